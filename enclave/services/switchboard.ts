// Runs in the enclave. The enclave outlives parent connections (a parent daemon may restart while the
// enclave keeps its unsealed state), but every port is served by one connection. The switchboard is
// the EnclavePorts the services hold: it forwards to whichever parent is connected now and fails
// with ERR_UNAVAILABLE while none is. Log lines written while no parent is connected are kept in a
// small bounded buffer and flushed on the next connection.
import type { Duplex } from 'node:stream';
import { CosignerError } from '../../proto/errors.ts';
import type { AwsCredentials, BlobStore, Clock, EnclavePorts, StoredBlob } from '../../proto/ports.ts';

/** Log lines kept while no parent is connected (older ones are dropped and counted). */
export const MAX_BUFFERED_LOG_LINES = 1000;

/** EnclavePorts that follow the current parent connection. */
export class PortSwitchboard implements EnclavePorts {
  private current: EnclavePorts | undefined;
  private pendingLogs: string[] = [];
  private droppedLogs = 0;
  readonly clock: Clock;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Whether a parent is connected. */
  get connected(): boolean {
    return this.current !== undefined;
  }

  /** A new parent connection: route every port to it and flush buffered logs. */
  attach(ports: EnclavePorts): void {
    this.current = ports;
    const lines = this.pendingLogs;
    this.pendingLogs = [];
    if (this.droppedLogs > 0) {
      ports.logs.write(JSON.stringify({ level: 40, time: this.clock.now(), side: 'enclave', droppedLines: this.droppedLogs, msg: 'log lines dropped while no parent was connected' }) + '\n');
      this.droppedLogs = 0;
    }
    for (const l of lines) ports.logs.write(l);
  }

  /** That connection is gone (only if it is still the current one). */
  detach(ports: EnclavePorts): void {
    if (this.current === ports) this.current = undefined;
  }

  private need(): EnclavePorts {
    if (!this.current) throw new CosignerError('ERR_UNAVAILABLE', 'no parent connected to the enclave');
    return this.current;
  }

  readonly dial = (host: string, port: number, opts?: { signal?: AbortSignal }): Promise<Duplex> => {
    try {
      return this.need().dial(host, port, opts);
    } catch (err) {
      return Promise.reject(err);
    }
  };

  readonly blobs: BlobStore = {
    get: (name: string): Promise<StoredBlob | null> => {
      try {
        return this.need().blobs.get(name);
      } catch (err) {
        return Promise.reject(err);
      }
    },
    put: (name: string, data: Uint8Array, expectedGeneration: bigint): Promise<bigint> => {
      try {
        return this.need().blobs.put(name, data, expectedGeneration);
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };

  readonly credentials = {
    get: (): Promise<AwsCredentials> => {
      try {
        return this.need().credentials.get();
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };

  readonly logs = {
    write: (line: string): void => {
      if (this.current) {
        try {
          this.current.logs.write(line);
          return;
        } catch {
          // fall through to the buffer: a dying connection must not lose the line or throw into pino
        }
      }
      if (this.pendingLogs.length >= MAX_BUFFERED_LOG_LINES) {
        this.pendingLogs.shift();
        this.droppedLogs++;
      }
      this.pendingLogs.push(line);
    },
  };
}
