export { createWebhooks, webhooksMigrations, type Webhooks, type WebhooksOptions } from './webhooks.ts';
export {
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  webhookSigningKey,
  WebhookVerificationError,
  type VerifyOptions,
  type WebhookHeaders,
} from './signature.ts';
export { defaultRetryDelaysMs, retryDelayMs, RETRY_JITTER } from './retry-schedule.ts';
export {
  checkWebhookUrl,
  refusedAddressKind,
  type RefusedAddressKind,
  type WebhookUrlPolicy,
} from './url-policy.ts';
export {
  addressRefusal,
  AddressRefusedError,
  policyLookup,
  resolveWithDns,
  type ResolveHost,
} from './delivery-target.ts';
export type { DeliveryQuery } from './deliveries.ts';
export type {
  CreateEndpointCommand,
  CreatedWebhookEndpoint,
  DeliveryStatus,
  Page as WebhookPage,
  PageQuery as WebhookPageQuery,
  WebhookAttempt,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEvent,
} from './types.ts';
