/** What wealth needs from the wallet: the user's wallet ledger account (money in and out). */
export interface WealthWallets {
  getWallet(userId: string): Promise<{ ledgerAccountId: string; currency: string }>;
}
