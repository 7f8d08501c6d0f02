// Runs on the parent (the `cosigner` CLI). Human renderings of daemon results: status, users, logs.
import { s, type Obj } from './common.ts';

export function humanLogLine(line: string): string {
  try {
    const r = JSON.parse(line) as Obj;
    const lvl = ({ 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' } as Record<number, string>)[r.level as number] ?? s(r.level);
    const t = typeof r.time === 'number' ? new Date(r.time).toISOString() : '-';
    const { level: _l, time: _t, msg, src, pid: _p, hostname: _h, side: _s, buildId: _b, ...restFields } = r;
    const extra = Object.keys(restFields).length ? ' ' + JSON.stringify(restFields) : '';
    return `${t} ${lvl.padEnd(5)} ${s(src).padEnd(8)} ${s(msg)}${extra}`;
  } catch {
    return line;
  }
}

/** What `status` says about the KMS key policy the enclave checked (docs/key-policy.md). */
function kmsPolicyLine(e: Obj): string {
  if (e.kmsPolicy !== 'changeable') return 'admitted; nobody may change it';
  // Principal strings come from the policy: strip control characters before they reach a terminal.
  const editors = ((e.kmsPolicyEditors ?? []) as unknown[]).map((x) => s(x).replace(/[\x00-\x1f\x7f]/g, '?'));
  return `admitted; may still be changed (PutKeyPolicy/CreateGrant) by ${editors.length ? editors.join(', ') : 'some principal'}`;
}

/** Which instance signs (docs/operations.md, "One active signer"). */
function leaseLine(l: Obj): string {
  const err = l.lastError ? `; last lease error ${s((l.lastError as Obj).code)}: ${s((l.lastError as Obj).message)}` : '';
  if (l.role === 'active') return `active (this instance ${s(l.self)} holds ${s(l.key)}, epoch ${s(l.epoch)}, until ${s(l.expiresAt)})${err}`;
  const holder = l.holder ? `${s(l.holder)} holds it until ${s(l.expiresAt)} (its clock)` : 'nobody holds it';
  return `standby (${holder}; takes over when it lapses)${err}`;
}

export function renderStatus(r: Obj): string {
  const d = (r.daemon ?? {}) as Obj;
  const sup = (r.supervisor ?? {}) as Obj;
  const w = (r.wire ?? {}) as Obj;
  const e = r.enclave as Obj | null;
  const lines = [
    `daemon     cosigner-parent ${s(d.version)} (${s(d.mode)} mode), home ${s(d.home)}, queue ${s(d.queueDepth)}/${s(d.queueLimit)}`,
    `enclave    ${s(sup.state)}${sup.enclaveId ? ` ${s(sup.enclaveId)}` : ''} since ${s(sup.since)}, image ${s(sup.image)}, restarts ${s(sup.restarts)}`,
  ];
  const le = sup.lastError as Obj | null;
  if (le) lines.push(`           last error ${s(le.code)}: ${s(le.message)}`);
  if (sup.nextRestartInMs !== null && sup.nextRestartInMs !== undefined) lines.push(`           next restart in ${Math.ceil(Number(sup.nextRestartInMs) / 1000)} s`);
  const lease = r.lease as Obj | undefined;
  if (lease?.configured) lines.push(`lease      ${leaseLine(lease)}`);
  lines.push(`wire       ${w.connected ? 'connected' : 'disconnected'}${w.remoteBuildId ? ` (build ${s(w.remoteBuildId)})` : ''}`);
  if (e) {
    lines.push(`secrets    ${s(e.state)}${e.errorCode ? ` (${s(e.errorCode)}: ${s(e.errorMessage)})` : ''}, attestation ${s(e.attestationMode)}${e.localMode ? ', LOCAL MODE' : ''}`);
    if (e.nextUnsealAttemptAt) lines.push(`           unseal attempt ${Number(e.unsealAttempts ?? 0) + 1} at ${s(e.nextUnsealAttemptAt)} (retrying by itself; \`cosigner unseal\` tries now)`);
    lines.push(`users      ${s(e.users)} (${s(e.pendingUsers)} pending), coordinator ${s(e.coordinator)}, open sessions ${s(e.openSessions)}`);
    if (e.ownerKeyFingerprint) lines.push(`owner key  sha256 ${s(e.ownerKeyFingerprint)}`);
    if (e.pendingChanges) lines.push(`changes    ${s(e.pendingChanges)} waiting for the workspace owner (cosigner changes)`);
    if (e.kmsPolicy) lines.push(`key policy ${kmsPolicyLine(e)}`);
    for (const n of (e.notes ?? []) as string[]) lines.push(`note       ${n}`);
  } else {
    lines.push('secrets    unknown (enclave not connected)');
  }
  return lines.join('\n');
}

export function renderUsers(users: Obj[]): string {
  if (users.length === 0) return 'no API users (pair one with `cosigner add-user`)';
  // The handler key's fingerprint is public: the operator compares it with the handler's operator.
  const fp = (u: Obj): string => (u.handlerKeySha256 ? `key ${String(u.handlerKeySha256)}` : u.certificateKeySha256 ? `cert ${String(u.certificateKeySha256)}` : '-');
  const rows = users.map((u) => [s(u.id), s(u.workspace), s(u.status), s(u.authMode), s(u.handlerUrl), fp(u), String(((u.keys ?? []) as Obj[]).length)]);
  const head = ['ID', 'WORKSPACE', 'STATUS', 'AUTH', 'HANDLER', 'HANDLER KEY SHA-256 (SPKI)', 'KEYS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  // Threshold ECDSA keys a peer cheated with: they sign again only after refresh-key.
  const marks = users.flatMap((u) => ((u.keys ?? []) as Obj[]).filter((k) => k.refreshRequired).map((k) => {
    const m = k.refreshRequired as Obj;
    return `REFRESH REQUIRED  user ${s(u.id)} key ${s(k.keyId)}: peer ${s(m.peer)} failed check ${s(m.check)} at ${new Date(Number(m.atMs)).toISOString()}; run \`cosigner refresh-key ${s(u.id)} ${s(k.keyId)}\``;
  }));
  return [...[head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()), ...marks].join('\n');
}

