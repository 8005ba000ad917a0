import { sha256Hex } from "../lib/crypto";
import { newTicketSecret, ticketTtlMs } from "../services/live-events";

/** A revoked key stays refused by the object this long: far beyond the 10 s any cached principal may live, after
 * which no request can authenticate with it anywhere. */
const revokedTtlMs = 10 * 60_000;

/**
 * Who may open a stream on the tenant's object, in its SQLite storage: single-use tickets (SHA-256 of the secret,
 * the key that minted it, its expiry and the minting credential's) and the keys revoked recently, refused at
 * connect and at ticket redemption whatever an auth cache elsewhere still says.
 */
export class StreamAccess {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`create table if not exists tickets (hash text primary key, key_id text not null,
      expires_at integer not null)`);
    // Added after the first release: tickets minted with a JWT carry its expiry to the stream they open.
    const columns = sql.exec<{ name: string }>("select name from pragma_table_info('tickets')").toArray();
    if (!columns.some((c) => c.name === "credential_expires_at")) {
      sql.exec("alter table tickets add column credential_expires_at integer");
    }
    sql.exec("create table if not exists revoked (key_id text primary key, at integer not null)");
  }

  async issueTicket(
    tenantId: string,
    keyId: string,
    credentialExpiresAt: number | undefined,
  ): Promise<{ ticket: string; expiresAt: number }> {
    const ticket = newTicketSecret(tenantId);
    const now = Date.now();
    const expiresAt = now + ticketTtlMs;
    this.sql.exec("delete from tickets where expires_at < ?", now);
    this.sql.exec(
      "insert into tickets (hash, key_id, expires_at, credential_expires_at) values (?, ?, ?, ?)",
      await sha256Hex(ticket),
      keyId,
      expiresAt,
      credentialExpiresAt ?? null,
    );
    return { ticket, expiresAt };
  }

  /** Deleted in the same synchronous step that reads it, so two redemptions cannot both win. */
  async redeemTicket(ticket: string): Promise<{ keyId: string; credentialExpiresAt?: number } | null> {
    const hash = await sha256Hex(ticket);
    const row = this.sql
      .exec<{ key_id: string; expires_at: number; credential_expires_at: number | null }>(
        "delete from tickets where hash = ? returning key_id, expires_at, credential_expires_at",
        hash,
      )
      .toArray()[0];
    if (!row || row.expires_at <= Date.now() || this.isRevoked(row.key_id)) return null;
    return row.credential_expires_at === null
      ? { keyId: row.key_id }
      : { keyId: row.key_id, credentialExpiresAt: row.credential_expires_at };
  }

  /** Remembers a revoked key and voids its tickets. */
  revoke(keyId: string, now = Date.now()): void {
    this.sql.exec("insert into revoked (key_id, at) values (?, ?) on conflict (key_id) do nothing", keyId, now);
    this.sql.exec("delete from tickets where key_id = ?", keyId);
  }

  isRevoked(keyId: string): boolean {
    return this.sql.exec("select 1 from revoked where key_id = ?", keyId).toArray().length > 0;
  }

  /** Expired tickets and old revocations (only when there are any: every write holds the object's output). */
  prune(now = Date.now()): void {
    const has = (q: string, at: number) => this.sql.exec(q, at).toArray().length > 0;
    if (has("select 1 from tickets where expires_at < ? limit 1", now)) {
      this.sql.exec("delete from tickets where expires_at < ?", now);
    }
    if (has("select 1 from revoked where at < ? limit 1", now - revokedTtlMs)) {
      this.sql.exec("delete from revoked where at < ?", now - revokedTtlMs);
    }
  }
}
