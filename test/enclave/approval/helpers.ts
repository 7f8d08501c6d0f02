// Test helpers for the approval tests: a fake clock, a log capture, sample requests, keys.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import pino from 'pino';
import type { Clock } from '../../../proto/ports.ts';
import { buildTxSignRequest, buildConfigChangeSignRequest, type TxSignRequest, type ConfigChangeSignRequest } from '../../../enclave/approval/payload.ts';

/** A clock whose sleep returns at once and moves time forward; records every sleep. */
export function fakeClock(start = 1_700_000_000_000): Clock & { sleeps: number[] } {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      sleeps.push(ms);
      now += ms;
    },
  };
}

/** A pino logger writing JSON lines into `lines`. */
export function captureLogger(): { logger: pino.Logger; lines: string[]; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

let cached: { privateKey: KeyObject; publicKeyPem: string } | undefined;
/** The co-signer identity key (RSA-2048), generated once per test file. */
export function cosignerKey(): { privateKey: KeyObject; publicKeyPem: string } {
  if (!cached) {
    const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
    cached = { privateKey: k.privateKey, publicKeyPem: k.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
  }
  return cached;
}

/** The published ETH example, as the coordinator would describe it. */
export function ethTx(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    txId: '9c794cee-7e27-46c9-9e9a-ed68295ff06b',
    operation: 'TRANSFER',
    sourceType: 'VAULT',
    sourceId: '0',
    destType: 'VAULT',
    destId: '1',
    asset: 'ETH',
    amount: 0.01,
    amountStr: '0.010000000000000000',
    requestedAmount: 0.01,
    requestedAmountStr: '0.01',
    fee: '0.000597803762241000',
    destAddressType: 'WHITELISTED',
    destAddress: '0x5dC69B1Fbb13Bafd09af88a782F0F285772Ad5f8',
    destinations: [
      {
        amountNative: 0.01, amountNativeStr: '0.01', amountUSD: 18.74, dstAddressType: 'WHITELISTED', dstId: '1', dstWalletId: '',
        dstName: 'Network Deposits', dstSubType: '', dstType: 'VAULT', displayDstAddress: '0x5dC69B1Fbb13Bafd09af88a782F0F285772Ad5f8',
        action: 'ALLOW', actionInfo: { capturedRuleNum: 5, rulesSnapshotId: 8164, byGlobalPolicy: false, byRule: true, capturedRule: '{}' },
      },
    ],
    rawTx: [
      {
        keyDerivationPath: '[ 44, 60, 0, 0, 0 ]',
        rawTx: '02ef0104843b9aca008506a0c1987d825208945dc69b1fbb13bafd09af88a782f0f285772ad5f8872386f26fc1000080c0',
        payload: '77b4e74099ce90c08503c0e0bb6e672dbe1c5e3e127ce333bf22eb581cd3f6ce',
      },
    ],
    players: ['21926ecc-4a8a-4614-bbac-7c591aa7efdd', '27900737-46f6-4097-a169-d0ff45649ed5'],
    requestId: '9c794cee-7e27-46c9-9e9a-ed68295ff06b',
    ...overrides,
  };
}

export function signRequest(userId: string, overrides: Record<string, unknown> = {}): TxSignRequest {
  return buildTxSignRequest(ethTx(overrides), { signerId: userId, stage: 'sign' });
}

export function configRequest(userId: string, type = 'UNMANAGED_WALLET', requestId = 'cfg-1'): ConfigChangeSignRequest {
  return buildConfigChangeSignRequest(
    { requestId, type, extraInfo: { subType: 'EXTERNAL', walletName: 'cold', walletId: 'w1', asset: 'ETH', address: '0xabc', tag: '' } },
    { signerId: userId },
  );
}
