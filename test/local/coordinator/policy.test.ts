import { describe, expect, it } from 'vitest';
import { amountUnits, evaluatePolicy, parsePolicy } from '../../../local/coordinator/policy.ts';

describe('reference coordinator policy', () => {
  const policy = parsePolicy({
    rules: [
      { name: 'deny-list', destinations: ['evil'], action: 'block' },
      { name: 'small-btc', asset: 'BTC', maxAmount: '0.1', action: 'allow' },
      { name: 'big', minAmount: 1000, action: 'block' },
      { asset: '*', action: 'require-approval' },
    ],
  });
  it('first matching rule decides; amounts compare exactly', () => {
    expect(evaluatePolicy(policy, { asset: 'BTC', amount: '0.099999999999999999', destination: 'a' })).toEqual({ action: 'allow', rule: 'small-btc' });
    expect(evaluatePolicy(policy, { asset: 'BTC', amount: '0.1', destination: 'a' }).action).toBe('require-approval');
    expect(evaluatePolicy(policy, { asset: 'BTC', amount: '0.01', destination: 'evil' }).action).toBe('block');
    expect(evaluatePolicy(policy, { asset: 'ETH', amount: '1000', destination: 'a' })).toEqual({ action: 'block', rule: 'big' });
    expect(amountUnits('1.5')).toBe(1_500_000_000_000_000_000n);
  });
  it('fails closed: no rule matched → block by default; bad documents are refused', () => {
    expect(evaluatePolicy(parsePolicy({ rules: [] }), { asset: 'X', amount: '1', destination: 'a' }).action).toBe('block');
    expect(() => parsePolicy({ rules: [{ action: 'maybe' }] })).toThrow();
    expect(() => parsePolicy({ rules: [{ action: 'allow', maxAmount: '-1' }] })).toThrow();
    expect(() => evaluatePolicy(policy, { asset: 'BTC', amount: '1e5', destination: 'a' })).toThrow();
  });
});
