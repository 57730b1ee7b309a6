// Clients sending HTTP ext_authz requests to whichever sidecar process is
// current (it is killed and restarted under them), keeping every decision id
// they were answered with: what a crash test compares with the audit trail
// and its replicas.
import { Pool } from 'undici';

export /** Clients sending decisions to whichever sidecar is current, keeping every decision id they were answered with. */
class DecisionLoad {
  readonly received = new Set<string>();
  refusedUnaudited = 0;
  private pool: Pool | undefined;
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly token: string, private readonly streams: number, private readonly pauseMs: number) {}

  target(port: number | undefined): void {
    const old = this.pool;
    this.pool = port === undefined ? undefined : new Pool(`http://127.0.0.1:${port}`, { connections: this.streams });
    void old?.destroy().catch(() => undefined);
  }

  start(): void {
    for (let i = 0; i < this.streams; i++) this.loops.push(this.loop(i));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await this.pool?.destroy().catch(() => undefined);
  }

  private async loop(i: number): Promise<void> {
    let n = 0;
    while (!this.stopped) {
      const pool = this.pool;
      if (pool === undefined) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      const tenant = ['acme', 'globex', 'initech'][(i + n++) % 3] as string;
      try {
        const res = await pool.request({ method: 'GET', path: `/api/v1/tenants/${tenant}/projects/p${i}`,
          headers: { authorization: `Bearer ${this.token}` } });
        const body = await res.body.text();
        const id = res.headers['x-authz-decision-id'];
        // An audit_unavailable deny is the one answer that is, by design, not recorded (it was refused for that).
        if (body.includes('audit_unavailable')) this.refusedUnaudited++;
        else if (typeof id === 'string') this.received.add(id);
      } catch {
        // the sidecar was killed under this request: no answer, nothing to account for
      }
      if (this.pauseMs > 0) await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }
}
