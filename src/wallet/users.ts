import type { AccountClass } from './account-classes.ts';

/** What the wallet needs to know about a user; the identity module provides it. */
export interface WalletUser {
  id: string;
  kycStatus: 'none' | 'verified';
  accountClass: AccountClass | null;
}

export interface WalletUserDirectory {
  getUser(userId: string): Promise<WalletUser>;
}
