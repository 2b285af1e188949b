import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installWebApp } from './web-app.ts';

let root: string;
const app = Fastify();

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-web-'));
  fs.mkdirSync(path.join(root, 'assets'));
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>wallet</title>');
  fs.writeFileSync(path.join(root, 'console.html'), '<!doctype html><title>console</title>');
  fs.writeFileSync(path.join(root, 'assets', 'app-1.js'), 'export {};');
  await app.register(async (web) => installWebApp(web, root));
  await app.ready();
});
afterAll(async () => {
  await app.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('the web app’s pages', () => {
  it('forbid other sites to frame them and scripts from anywhere but their own files', async () => {
    for (const url of ['/', '/index.html', '/console', '/console/']) {
      const page = await app.inject({ method: 'GET', url });
      expect(page.statusCode, url).toBe(200);
      const csp = String(page.headers['content-security-policy']);
      expect(csp, url).toContain("frame-ancestors 'none'");
      expect(csp, url).toContain("script-src 'self'");
      expect(csp, url).not.toMatch(/script-src[^;]*unsafe/);
      expect(page.headers['x-frame-options'], url).toBe('DENY');
      expect(page.headers['cache-control'], url).toBe('no-cache');
    }
    const asset = await app.inject({ method: 'GET', url: '/assets/app-1.js' });
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(asset.headers['x-content-type-options']).toBe('nosniff');
  });
});
