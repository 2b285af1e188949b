import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium, or CHROMIUM_PATH; the browser tests skip when it is missing. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = fs.existsSync(CHROMIUM);

/** Headless Chromium with the flags the env notes give (no sandbox in containers, no GPU, no network chatter). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A JSON call to the API under test; every POST gets a fresh Idempotency-Key. */
export function apiClient(base: () => string) {
  return async function api<T = Record<string, unknown>>(
    method: 'GET' | 'POST',
    url: string,
    token: string | undefined,
    body?: unknown,
  ): Promise<{ status: number; json: T }> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (method === 'POST') {
      headers['content-type'] = 'application/json';
      headers['idempotency-key'] = randomUUID();
    }
    const response = await fetch(base() + url, {
      method,
      headers,
      body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
    });
    const text = await response.text();
    return { status: response.status, json: (text ? JSON.parse(text) : {}) as T };
  };
}

/** The whole page in one picture: the viewport grows to the page's height for the shot. */
export async function fullPageShot(page: Page, file: string): Promise<void> {
  await page.waitForTimeout(150);
  const size = page.viewportSize()!;
  const height = (await page.evaluate('document.documentElement.scrollHeight')) as number;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (height > size.height) await page.setViewportSize({ width: size.width, height });
  await page.screenshot({ path: file });
  if (height > size.height) await page.setViewportSize(size);
}
