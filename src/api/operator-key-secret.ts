import { apiKeyDisplayParts, generateApiKey, hashApiKey, looksLikeApiKey } from '../core/index.ts';

/** Every operator key starts with this, so secret scanners and people can tell what leaked. */
export const OPERATOR_KEY_PREFIX = 'mlt_op_';

export const generateOperatorKey = (): string => generateApiKey(OPERATOR_KEY_PREFIX);

export const looksLikeOperatorKey = (text: string): boolean => looksLikeApiKey(text, OPERATOR_KEY_PREFIX);

export const hashOperatorKey = hashApiKey;

/** What a console shows in place of the key: "mlt_op_AbCd" and the last four characters. */
export const displayParts = (plaintext: string): { prefix: string; last4: string } =>
  apiKeyDisplayParts(plaintext, OPERATOR_KEY_PREFIX);
