/**
 * Streams the content of the first file of a multipart/form-data body (RFC 7578), as Kurento's
 * HttpPostEndpoint takes a browser's form upload: the parts before it that are plain fields
 * (no `filename`) are skipped, and whatever follows the file is ignored. Bytes that could be the
 * start of the boundary are held back until the next chunk tells.
 */
const MAX_HEADER_BYTES = 16 * 1024;

type State = 'preamble' | 'headers' | 'file' | 'field' | 'done';

/** The boundary of a `multipart/form-data; boundary=…` Content-Type, or undefined. */
export function formDataBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/^multipart\/form-data\s*;/i.test(contentType))
    return undefined;
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

export class MultipartFile {
  readonly #delimiter: Buffer;
  // The body's first boundary has no CRLF before it; starting with one lets one search find all.
  #pending = Buffer.from('\r\n');
  #state: State = 'preamble';

  constructor(boundary: string) {
    this.#delimiter = Buffer.from(`\r\n--${boundary}`);
  }

  /** The file has been read to its end. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** Returns the file's bytes in `chunk` (and in what was held back). Throws on a bad body. */
  push(chunk: Buffer): Buffer[] {
    if (this.#state === 'done') return [];
    let buffer = Buffer.concat([this.#pending, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      if (this.#state === 'headers') {
        if (buffer.length >= 2 && buffer.subarray(0, 2).toString('latin1') === '--') {
          throw new Error('the form has no file');
        }
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buffer.length > MAX_HEADER_BYTES) throw new Error('a form part header is too long');
          this.#pending = buffer;
          return out;
        }
        const head = buffer.subarray(0, end).toString('latin1');
        buffer = buffer.subarray(end + 4);
        this.#state = /content-disposition:[^\r\n]*filename=/i.test(head) ? 'file' : 'field';
        continue;
      }
      const at = buffer.indexOf(this.#delimiter);
      if (at < 0) {
        const keep = Math.min(buffer.length, this.#delimiter.length - 1);
        if (this.#state === 'file' && buffer.length > keep) {
          out.push(buffer.subarray(0, buffer.length - keep));
        }
        this.#pending = Buffer.from(buffer.subarray(buffer.length - keep));
        return out;
      }
      if (this.#state === 'file') {
        if (at > 0) out.push(buffer.subarray(0, at));
        this.#state = 'done';
        this.#pending = Buffer.alloc(0);
        return out;
      }
      buffer = buffer.subarray(at + this.#delimiter.length);
      this.#state = 'headers';
    }
  }
}
