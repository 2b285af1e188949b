import { MilletError } from '../core/index.ts';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Where webhooks may go: https anywhere, or plain http to this machine (127.0.0.1, localhost, [::1])
 * for development. No credentials in the URL, at most 2,000 characters. Not checked (yet): https
 * hosts that resolve to private addresses (SSRF into the platform's network).
 */
export function checkWebhookUrl(url: string, field = 'url'): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MilletError('WEBHOOK_URL_INVALID', 'The webhook URL is not a valid absolute URL', { field });
  }
  const local = parsed.protocol === 'http:' && LOCAL_HOSTS.has(parsed.hostname);
  if (parsed.protocol !== 'https:' && !local)
    throw new MilletError(
      'WEBHOOK_URL_INVALID',
      'The webhook URL must use https (plain http only to 127.0.0.1 or localhost, for development)',
      { field },
    );
  if (parsed.username || parsed.password || url.length > 2000)
    throw new MilletError(
      'WEBHOOK_URL_INVALID',
      'The webhook URL must not carry credentials or exceed 2,000 characters',
      {
        field,
      },
    );
  return parsed.toString();
}
