import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/temp-dir.ts';
import { loadAllowList, parseAllowList } from '../../../parent/relay/allow-list.ts';

const dir = tempDir('allow-');
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('egress allow-list', () => {
  it('loads the documented format and matches exactly', () => {
    const a = loadAllowList(file('ok.json', JSON.stringify({ allowlist: [{ address: 'KMS.us-east-1.amazonaws.com', port: 443 }, { address: '127.0.0.1', port: 8443 }] })));
    expect(a.entries).toEqual([{ address: 'kms.us-east-1.amazonaws.com', port: 443 }, { address: '127.0.0.1', port: 8443 }]);
    expect(a.allows('kms.us-east-1.amazonaws.com', 443)).toBe(true);
    expect(a.allows('KMS.US-EAST-1.AMAZONAWS.COM.', 443)).toBe(true);
    expect(a.allows('127.0.0.1', 8443)).toBe(true);
  });

  it('denies anything not listed: other port, other host, suffix tricks, junk', () => {
    const a = parseAllowList({ allowlist: [{ address: 'kms.us-east-1.amazonaws.com', port: 443 }] });
    for (const [h, p] of [
      ['kms.us-east-1.amazonaws.com', 80],
      ['kms.us-east-1.amazonaws.com.evil.test', 443],
      ['evil-kms.us-east-1.amazonaws.com', 443],
      ['us-east-1.amazonaws.com', 443],
      ['', 443],
      ['kms.us-east-1.amazonaws.com\0', 443],
      ['kms.us-east-1.amazonaws.com', 443.5],
    ] as const) {
      expect(a.allows(h, p), `${h}:${p}`).toBe(false);
    }
  });

  it('rejects unknown fields, bad types, bad ports and duplicates', () => {
    const bad: unknown[] = [
      null,
      [],
      {},
      { allowlist: {} },
      { allowlist: [], extra: 1 },
      { allowlist: [{ address: 'a.test', port: 443, note: 'x' }] },
      { allowlist: [{ address: 'a.test' }] },
      { allowlist: [{ address: 'a.test', port: '443' }] },
      { allowlist: [{ address: 'a.test', port: 0 }] },
      { allowlist: [{ address: 'a.test', port: 65536 }] },
      { allowlist: [{ address: 'a.test', port: 1.5 }] },
      { allowlist: [{ address: '*.test', port: 443 }] },
      { allowlist: [{ address: 'a b', port: 443 }] },
      { allowlist: [{ address: 42, port: 443 }] },
      { allowlist: [{ address: 'a.test', port: 443 }, { address: 'A.test', port: 443 }] },
      { allowlist: Array.from({ length: 300 }, (_, i) => ({ address: `h${i}.test`, port: 443 })) },
    ];
    for (const doc of bad) expect(() => parseAllowList(doc), JSON.stringify(doc)?.slice(0, 80)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('rejects unreadable, oversized or non-JSON files', () => {
    expect(() => loadAllowList(join(dir, 'missing.json'))).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(() => loadAllowList(file('yaml.json', 'allowlist:\n- {address: a, port: 1}\n'))).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(() => loadAllowList(file('big.json', ' '.repeat(70 * 1024)))).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });
});
