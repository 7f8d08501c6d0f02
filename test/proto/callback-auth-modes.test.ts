// The Callback Handler auth modes are one list (proto/callback-auth-modes.ts): the enclave's
// validators, the parent's control protocol and CLI use it; the .proto and the docs are checked here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CALLBACK_AUTH_MODES, isCallbackAuthMode } from '../../proto/callback-auth-modes.ts';
import { parseRequest } from '../../parent/control/protocol.ts';
import { callbackFromFlags } from '../../parent/cli/callback-settings.ts';
import { callbackSettings } from '../../enclave/services/validate.ts';
import { validateCallbackSettings } from '../../enclave/approval/settings.ts';
import type { CallbackSettings } from '../../enclave/vault/records.ts';

const repo = join(import.meta.dirname, '..', '..');
const NOT_MODES = ['jwt', 'Public-Key', 'public-key ', 'public-keyXcertificate', 'public-key+', 'none'];

describe('CALLBACK_AUTH_MODES', () => {
  it('is what proto/control.proto documents for CallbackConfig.auth_mode', () => {
    const proto = readFileSync(join(repo, 'proto', 'control.proto'), 'utf8');
    const m = /message CallbackConfig \{[^}]*?\/\/ ([^\n]+)\n\s*string auth_mode = 2;/.exec(proto);
    expect(m?.[1]?.split(' | ')).toEqual([...CALLBACK_AUTH_MODES]);
  });

  it('is the mode table of docs/callback-handler.md', () => {
    const whole = readFileSync(join(repo, 'docs', 'callback-handler.md'), 'utf8');
    // Only the "Authentication modes" section: other tables (fields, formats) also start with a code cell.
    const doc = whole.slice(whole.indexOf('## Authentication modes'), whole.indexOf('\n## ', whole.indexOf('## Authentication modes') + 3));
    const rows = [...doc.matchAll(/^\| `([a-z+-]+)`(?: \(default\))? \|/gm)].map((r) => r[1]);
    expect(rows).toEqual([...CALLBACK_AUTH_MODES]);
  });

  it('isCallbackAuthMode accepts exactly the list', () => {
    for (const m of CALLBACK_AUTH_MODES) expect(isCallbackAuthMode(m)).toBe(true);
    for (const m of [...NOT_MODES, '', undefined, 1]) expect(isCallbackAuthMode(m)).toBe(false);
  });
});

describe('both sides use the list', () => {
  const setup = (authMode: string): string =>
    JSON.stringify({ id: 1, method: 'setup', params: { kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/k', region: 'us-east-1', callback: { url: 'https://h', authMode } } });

  // An empty mode passes the protocol on purpose: the enclave reads it as the default (public-key).
  it('the parent control protocol accepts each mode and refuses anything else', () => {
    for (const m of CALLBACK_AUTH_MODES) expect(parseRequest(setup(m)).params).toMatchObject({ callback: { authMode: m } });
    for (const m of NOT_MODES) expect(() => parseRequest(setup(m))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('the CLI refuses an unknown --auth-mode before reading any file', async () => {
    const io = { stdin: process.stdin, stdout: () => undefined, stderr: () => undefined, interactive: false, env: {} };
    const flags = { 'callback-url': 'https://h.example', 'auth-mode': 'jwt', 'handler-public-key': '/nonexistent/key.pem' };
    await expect(callbackFromFlags(flags, io, null)).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining(CALLBACK_AUTH_MODES.join(', ')) });
  });

  it('the enclave validators refuse an unknown mode, naming the list', () => {
    expect(() => callbackSettings({ url: 'https://h.example', authMode: 'jwt' }, { localMode: false })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining(CALLBACK_AUTH_MODES.join(', ')) }),
    );
    const s = { url: 'https://h.example', authMode: 'jwt' } as unknown as CallbackSettings;
    expect(() => validateCallbackSettings(s, { localMode: false })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining(CALLBACK_AUTH_MODES.join(', ')) }));
  });
});
