import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { base64, hex } from '@scure/base';
import { getCompiledTransactionMessageDecoder, getTransactionDecoder, type Address } from '@solana/kit';
import { buildSolanaTransfer, finalizeSolanaTransfer, lamportsToSol, readSolanaTransaction, solanaAddress } from '../../../local/chains/solana.ts';
import { BLOCKHASH, ed25519Key } from './keys.ts';

const sender = ed25519Key(3);
const to = solanaAddress(ed25519Key(4).publicKey);

describe('Solana transfers', () => {
  it('give the base58 address of a key (the system program is the all-zero key)', () => {
    expect(solanaAddress(new Uint8Array(32))).toBe('11111111111111111111111111111111');
    expect(() => solanaAddress(new Uint8Array(31))).toThrow();
  });

  it('build an unsigned transfer whose payload is its message', () => {
    const { entry, from, amountStr } = buildSolanaTransfer({ from: sender.publicKey, to, lamports: 2_500_000n, recentBlockhash: BLOCKHASH });
    expect(from).toBe(solanaAddress(sender.publicKey));
    expect(amountStr).toBe('0.002500000');
    const tx = getTransactionDecoder().decode(hex.decode(entry.rawTx));
    expect(hex.encode(Uint8Array.from(tx.messageBytes))).toBe(entry.payload);
    expect(tx.signatures).toEqual({ [from]: null });
    const read = readSolanaTransaction(hex.decode(entry.rawTx));
    expect(read).toMatchObject({ signers: [from], transfers: [{ source: from, destination: to, lamports: 2_500_000n }], others: 0 });
    expect(getCompiledTransactionMessageDecoder().decode(tx.messageBytes).lifetimeToken).toBe(BLOCKHASH);
  });

  it('finalize with a verified signature', () => {
    const { entry } = buildSolanaTransfer({ from: sender.publicKey, to, lamports: 1n, recentBlockhash: BLOCKHASH });
    const sig = ed25519.sign(hex.decode(entry.payload), sender.secret);
    const signed = base64.decode(finalizeSolanaTransfer(hex.decode(entry.rawTx), sig));
    const tx = getTransactionDecoder().decode(signed);
    const got = tx.signatures[solanaAddress(sender.publicKey) as Address]!;
    expect(ed25519.verify(Uint8Array.from(got), Uint8Array.from(tx.messageBytes), sender.publicKey)).toBe(true);
    const bad = Uint8Array.from(sig);
    bad[0] = bad[0]! ^ 1;
    expect(() => finalizeSolanaTransfer(hex.decode(entry.rawTx), bad)).toThrow(/does not verify/);
  });

  it('format lamports as SOL', () => {
    expect(lamportsToSol(1n)).toBe('0.000000001');
    expect(lamportsToSol(1_500_000_000n)).toBe('1.500000000');
  });
});
