/**
 * Streams bytes into one R2 object with flat memory: bytes are copied into a single part-sized buffer; each time it
 * fills, it is uploaded as the next part of a multipart upload (R2 wants every part but the last of one size, at
 * least 5 MiB). An object that never fills one part is written with a single `put`. At most one part is held, so
 * memory does not grow with the object.
 */
export class ObjectWriter {
  #buffer: Uint8Array;
  #used = 0;
  #upload: R2MultipartUpload | undefined;
  #parts: R2UploadedPart[] = [];
  #size = 0;
  readonly #encoder = new TextEncoder();

  constructor(
    private readonly bucket: R2Bucket,
    readonly key: string,
    private readonly partBytes: number,
    private readonly httpMetadata: R2HTTPMetadata,
  ) {
    this.#buffer = new Uint8Array(partBytes);
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#size;
  }

  async write(chunk: string | Uint8Array): Promise<void> {
    const bytes = typeof chunk === "string" ? this.#encoder.encode(chunk) : chunk;
    let offset = 0;
    while (offset < bytes.length) {
      const n = Math.min(bytes.length - offset, this.partBytes - this.#used);
      this.#buffer.set(bytes.subarray(offset, offset + n), this.#used);
      this.#used += n;
      offset += n;
      if (this.#used === this.partBytes) await this.#flushPart();
    }
    this.#size += bytes.length;
  }

  async #flushPart(): Promise<void> {
    this.#upload ??= await this.bucket.createMultipartUpload(this.key, { httpMetadata: this.httpMetadata });
    const part = await this.#upload.uploadPart(this.#parts.length + 1, this.#buffer.subarray(0, this.#used));
    this.#parts.push(part);
    this.#used = 0;
  }

  /** Finishes the object; returns its size in bytes. */
  async close(): Promise<number> {
    if (!this.#upload) {
      await this.bucket.put(this.key, this.#buffer.subarray(0, this.#used), { httpMetadata: this.httpMetadata });
    } else {
      if (this.#used > 0) await this.#flushPart();
      await this.#upload.complete(this.#parts);
    }
    return this.#size;
  }

  /** Abandons a multipart upload in progress (best effort: R2 also expires incomplete uploads on its own). */
  async abort(): Promise<void> {
    await this.#upload?.abort().catch(() => undefined);
  }
}
