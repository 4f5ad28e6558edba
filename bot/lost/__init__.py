"""Lost certificates (证书遗失): a request for a 学历证明书 in place of the certificate."""
