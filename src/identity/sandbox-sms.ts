import type { Logger } from 'pino';
import { maskPhone, normalizePhone } from './phone.ts';
import type { SmsSender, VerificationCodeMessage } from './sms-sender.ts';

export interface SandboxSmsMessage extends VerificationCodeMessage {
  /** What a phone would show. */
  text: string;
  sentAt: Date;
}

export interface SandboxSmsOptions {
  /** Each message is logged with the phone masked and without its code. */
  logger?: Pick<Logger, 'info'>;
  /** Messages kept in memory, the oldest dropped first; 1,000 by default. */
  keep?: number;
}

/**
 * An SMS gateway for development, tests and the demo: nothing leaves the process. Messages are
 * kept in memory (tests read the codes from here) and logged with the phone masked. The code is
 * not logged: whoever reads the logs must not be able to sign up someone else's number; a
 * developer reads it from the API's `sandbox_code` (MILLET_SMS_SANDBOX_CODES) instead.
 */
export class SandboxSms implements SmsSender {
  readonly #messages: SandboxSmsMessage[] = [];
  readonly #logger: Pick<Logger, 'info'> | undefined;
  readonly #keep: number;

  constructor(options: SandboxSmsOptions = {}) {
    this.#logger = options.logger;
    this.#keep = options.keep ?? 1000;
  }

  async sendVerificationCode(message: VerificationCodeMessage): Promise<void> {
    const text = `【Millet】验证码 ${message.code}，${message.expiresInMinutes} 分钟内有效，请勿告诉他人。`;
    this.#messages.push({ ...message, text, sentAt: new Date() });
    if (this.#messages.length > this.#keep) this.#messages.splice(0, this.#messages.length - this.#keep);
    this.#logger?.info(
      { to: maskPhone(message.to), purpose: message.purpose },
      'sandbox SMS: verification code recorded, not delivered',
    );
  }

  /** Every message still kept, oldest first. */
  messages(): readonly SandboxSmsMessage[] {
    return this.#messages;
  }

  /** The code most recently sent to a phone (any accepted spelling), if any. */
  lastCodeTo(phone: string): string | undefined {
    const to = normalizePhone(phone);
    return this.#messages.findLast((m) => m.to === to)?.code;
  }
}
