import { deriveSubkey, openSealed, seal } from '../core/index.ts';

/**
 * Webhook secrets at rest: AES-256-GCM under a key derived with HKDF-SHA256 from the master key the
 * composition root passes (the same master as personal data, a different derived key). Stored as
 * `v1.<base64url(iv ‖ ciphertext ‖ tag)>`; the associated data names the row, so a ciphertext copied
 * to another endpoint does not decrypt. Trade-off: signing needs the secret itself, so anyone with
 * the database and the master key can sign as Millet; a hash would make signing impossible.
 */
export interface SecretBox {
  seal(plaintext: string, context: string): string;
  open(stored: string, context: string): string;
}

export function createSecretBox(masterKey: Uint8Array): SecretBox {
  const key = deriveSubkey(masterKey, 'millet/webhooks/secret-aes-256-gcm');
  return {
    seal: (plaintext, context) => seal(key, plaintext, context),
    open: (stored, context) => openSealed(key, stored, context).toString('utf8'),
  };
}
