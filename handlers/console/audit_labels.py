"""The one table of Chinese labels for audit rows: every action and every result the code writes.
The audit log, its filters and the anomaly report all read these; tests/handlers/console/
test_audit.py checks that every action and result written anywhere in bot/ and handlers/ has one."""

from __future__ import annotations

from types import SimpleNamespace

ACTION_NAMES = {
    # staff: tickets and proxies
    "view_ticket": "查看工单",
    "reveal_pii": "显示个人信息",
    "appeal_status": "更改工单状态",
    "appeal_note": "内部备注",
    "view_attachment": "查看附件",
    "view_proxy": "查看代办申请",
    "proxy_review": "代办审核",
    "export_code": "发送导出验证码",
    "export_csv": "导出 CSV",
    "view_audit": "查看审计日志",
    "view_anomalies": "查看异常报告",
    "anomaly_notice": "异常报告短信通知",
    # the office's own work (registrar files, holiday calendar, dashboard)
    "registrar_upload": "上传学籍文件",
    "registrar_import_confirm": "确认导入学籍",
    "registrar_import_discard": "放弃导入学籍",
    "registrar_import": "导入学籍",
    "calendar_year": "编辑节假日日历",
    "view_dashboard": "查看数据看板",
    "dashboard_csv": "下载看板 CSV",
    "view_registrar": "查看学籍同步",
    "verifier_create": "发放查验密钥",
    "verifier_revoke": "停用查验密钥",
    "job_retry": "重试失败任务",
    # staff: sign-in and accounts
    "staff_login": "登录（密码）",
    "staff_2fa": "登录（二次验证）",
    "login_code": "发送登录验证码",
    "staff_logout": "退出",
    "staff_create": "新建账号",
    "staff_disable": "停用账号",
    "staff_enable": "启用账号",
    "staff_role": "更改角色",
    "staff_reset": "生成重置密码链接",
    "password_reset": "通过链接重设密码",
    "password_change": "修改自己的密码",
    "totp_enrol": "绑定身份验证器",
    "totp_clear": "清除身份验证器",
    # graduates, parents and proxies
    "consent": "同意授权",
    "bind_match": "绑定核对身份",
    "proxy_match": "代办核对身份",
    "bind": "绑定学籍",
    "unbind": "解除绑定",
    "otp_locked": "短信验证码锁定",
    "miniapp_login": "小程序登录",
    "delete_personal_data": "删除个人信息",
    "view_diploma": "查询毕业证书",
    "issue_certificate": "开具电子证明",
    "certificate_link": "下载电子证明",
    "extend_certificate": "延长电子证明",
    "close_certificate": "关闭电子证明",
    "lookup_verified": "核验电子证明",
    "third_party_verify": "单位查验电子证明",
    "file_appeal": "提交异议",
    "file_lost_certificate": "申请补办学历证明书",
    "appeal_info": "补充异议材料",
    "proxy_request": "申请代办",
    "proxy_document": "上传代办委托书",
    "proxy_graduate_answer": "毕业生答复代办",
    "proxy_graduate_confirmed": "毕业生确认代办",
    "proxy_revoke": "撤销代办",
}

RESULT_NAMES = {
    "ok": "成功",
    "failed": "失败",
    "throttled": "已限流",
    "refused": "被拒绝",
    "wrong": "验证码错误",
    "expired": "验证码过期",
    "dead": "验证码失效",
    "locked": "已锁定",
    "cooldown": "发送太频繁",
    "phone_minute": "发送太频繁",
    "phone_hour": "本小时发送已达上限",
    "phone_day": "今日发送已达上限",
    "no_phone": "无手机号",
    "sms_failed": "短信失败",
    "matched": "身份相符",
    "no_match": "身份不符",
    "bound": "已绑定",
    "already": "已绑定过",
    "shown": "已显示",
    "not_yet": "尚未可查",
    "agreed": "同意",
    "checking": "核对中",
    "proxy_graduate": "毕业生今日代办验证码已达上限",
    "proxy_requester": "申请人今日代办验证码已达上限",
}


def action_name(action: str) -> str:
    """The Chinese label of an action (the code itself for one written by a newer release)."""
    return ACTION_NAMES.get(action, action)


def result_name(result: str) -> str:
    """The Chinese label of a result."""
    return RESULT_NAMES.get(result, result)


LABELS = SimpleNamespace(
    actions=ACTION_NAMES, results=RESULT_NAMES, action=action_name, result=result_name
)
