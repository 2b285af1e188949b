export {
  createWallet,
  walletMigrations,
  type Wallet,
  type WalletBalance,
  type WalletOptions,
} from './wallet.ts';
export { accountClassLimits, usagePeriod, type AccountClass } from './account-classes.ts';
export {
  BankDeclinedError,
  BankTimeoutError,
  type BankConnector,
  type BankOutcome,
  type BankRequest,
  type BankSettlement,
  type CardNamespace,
  type CardRequest,
  type CardSettlement,
} from './bank-connector.ts';
export { SandboxBank, type SandboxBankOptions } from './sandbox-bank.ts';
export {
  ATTENTION_AFTER_MS,
  type BankOperation,
  type BankOperationCommand,
  type BankOperationListQuery,
  type BankOperationKind,
  type ReconcileOptions,
  type WalletLogger,
} from './bank-operations.ts';
export type { TransferCommand, WalletTransfer } from './transfers.ts';
export type { WalletUser, WalletUserDirectory } from './users.ts';
export {
  chargePaymentAllowance,
  paymentAllowanceEffect,
  releasePaymentAllowance,
} from './payment-allowance.ts';
