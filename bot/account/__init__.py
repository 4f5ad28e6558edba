"""The account itself: the menu, unbind, 删除我的信息."""
