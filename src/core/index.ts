export { errorCodes, type ErrorCode } from './error-codes.ts';
export { MilletError, isMilletError, refusal } from './errors.ts';
export {
  type Clock,
  systemClock,
  ManualClock,
  BUSINESS_TIME_ZONE,
  businessDate,
  businessDateOf,
  businessTimeOffsetMs,
} from './clock.ts';
export { newId, isUuid, derivedId } from './ids.ts';
export { encodeIdCursor, decodeIdCursor } from './id-cursor.ts';
export { canonicalJson } from './canonical-json.ts';
export {
  type RoundingMode,
  divRound,
  parseMajorUnits,
  formatBasisPoints,
  formatMinorUnits,
  isCurrencyCode,
  minorUnitExponent,
} from './money.ts';
export { type Config, loadConfig, smsSandboxCodes, webhooksAllowLoopback } from './config.ts';
export { deriveSubkey, seal, open as openSealed } from './sealed-box.ts';
export { apiKeyDisplayParts, generateApiKey, hashApiKey, looksLikeApiKey } from './api-key-secret.ts';
export { batchedLoader } from './batched-loader.ts';
export { seededRandom } from './seeded-random.ts';
