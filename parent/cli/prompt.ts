// Runs on the parent (the `cosigner` CLI). Interactive questions. Only used when stdin is a terminal
// and --yes was not given; otherwise every answer must come from a flag (no hangs in automation).
import { createInterface, type Interface } from 'node:readline';
import type { CliIo } from './io.ts';

/** A line-based prompter over the CLI's stdin. */
export class Prompter {
  #rl: Interface | null = null;
  readonly #lines: string[] = [];
  readonly #waiters: Array<(l: string | null) => void> = [];
  #ended = false;

  constructor(private readonly io: CliIo) {}

  #ensure(): void {
    if (this.#rl) return;
    this.#rl = createInterface({ input: this.io.stdin, terminal: false });
    this.#rl.on('line', (l) => {
      const w = this.#waiters.shift();
      if (w) w(l);
      else this.#lines.push(l);
    });
    this.#rl.on('close', () => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w(null);
    });
  }

  async #line(): Promise<string | null> {
    this.#ensure();
    const l = this.#lines.shift();
    if (l !== undefined) return l;
    if (this.#ended) return null;
    return new Promise((res) => this.#waiters.push(res));
  }

  /** Ask one question; `def` is used for an empty answer. */
  async ask(question: string, def = ''): Promise<string> {
    this.io.stderr(`${question}${def ? ` [${def}]` : ''}: `);
    const l = await this.#line();
    const v = (l ?? '').trim();
    return v === '' ? def : v;
  }

  /**
   * One answer that may be a pasted PEM: when the first line is a -----BEGIN line, the following
   * lines up to the END line (bounded) belong to it.
   */
  async askPemOrLine(question: string, def = ''): Promise<string> {
    const first = await this.ask(question, def);
    if (!first.startsWith('-----BEGIN ')) return first;
    const lines = [first];
    for (let i = 0; i < 200 && !/^-----END [A-Z0-9 ]+-----$/.test(lines.at(-1) ?? ''); i++) {
      const l = await this.#line();
      if (l === null) break;
      lines.push(l.trim());
    }
    return lines.join('\n') + '\n';
  }

  /** Yes/no, default no. */
  async confirm(question: string): Promise<boolean> {
    const a = await this.ask(`${question} [y/N]`);
    return /^y(es)?$/i.test(a);
  }

  /** Read a pasted PEM block: lines until the END line (bounded). */
  async pem(question: string): Promise<string> {
    this.io.stderr(`${question} (paste the PEM, ending with its -----END ...----- line):\n`);
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) {
      const l = await this.#line();
      if (l === null) break;
      lines.push(l);
      if (/^-----END [A-Z ]+-----\s*$/.test(l.trim())) break;
    }
    return lines.join('\n').trim() + '\n';
  }

  close(): void {
    this.#rl?.close();
  }
}
