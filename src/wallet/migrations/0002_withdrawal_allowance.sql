-- A Class I withdrawal to the user's own bank account counts toward the class's lifetime limit
-- (PBoC 《非银行支付机构网络支付业务管理办法》 Art. 11(1)); Classes II and III do not count it (Art.
-- 11(2), (3)). The usage period a withdrawal charged, or NULL when it charged nothing, so that a
-- failed withdrawal gives back exactly what it took, and a late payout takes it again.
ALTER TABLE wallet_bank_operations ADD COLUMN usage_period text;
