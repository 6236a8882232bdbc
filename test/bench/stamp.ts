/**
 * A wall-clock time burned into video frames as black and white blocks, and read back from a
 * decoded frame: the probe of the glass-to-glass benchmark (glassToGlass.ts).
 *
 * The pattern is two rows of 24 cells across the middle of the camera's picture. Each row starts
 * with white, black and ends with black, white: these guard cells give the reader the black and
 * white levels of this very frame after coding and scaling, so its threshold follows whatever
 * the encoders did to contrast. The 40 cells between the guards carry the time in milliseconds
 * modulo 2^24 (4.66 hours, far beyond any latency) followed by a CRC-16 of it, so a frame caught
 * half-way between two stamps, a blurred one or a picture that is no stamp at all fails the
 * check instead of giving a wrong time. Cells are large (1/25 of the picture's width, 1/5 of its
 * height) so that they survive VP8/H.264 at low bitrates and the composite scaling the picture
 * down into a tile; the reader averages the middle quarter of each cell, away from the edges
 * where coding ringing lives.
 *
 * Everything lives inside `stampCodec()` and refers to nothing outside it, because the same
 * function runs in Chromium pages: the benchmark injects `(${stampCodec.toString()})()`. The unit
 * test (stamp.test.ts) checks it both here and inside a page.
 */

/** A rectangle as fractions of a picture's width and height. */
export interface FractionRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface StampCodec {
  readonly rows: number;
  readonly cols: number;
  /** Bits of the millisecond count that travel: the stamp is `ms mod 2^bits`. */
  readonly bits: number;
  /** Where the pattern sits in the camera's picture. */
  readonly area: FractionRect;
  /** Cell values (1 white, 0 black), row-major, for the time `ms`. */
  cells(ms: number): number[];
  /** The pixel rectangle of cell `index` in a picture of `width` x `height`. */
  cellRect(
    index: number,
    width: number,
    height: number,
  ): { x: number; y: number; w: number; h: number };
  /** An RGBA picture of `width` x `height` showing the stamp for `ms` on mid grey. */
  rasterize(ms: number, width: number, height: number): Uint8ClampedArray;
  /**
   * The mean luma of the middle of every cell, from an RGBA picture of the camera's whole
   * frame (at any size: the pattern's place is relative).
   */
  levels(rgba: ArrayLike<number>, width: number, height: number): number[];
  /** The stamp (`ms mod 2^bits`) the levels show, or undefined when the check fails. */
  decode(levels: readonly number[]): number | undefined;
  /**
   * The full time of a stamp read at `nowMs`: the time congruent to it nearest to now, so a
   * reader whose clock runs slightly behind the writer's gets a small negative latency rather
   * than one of 4.66 hours.
   */
  unwrap(stamp: number, nowMs: number): number;
  /** levels + decode + unwrap. */
  read(rgba: ArrayLike<number>, width: number, height: number, nowMs: number): number | undefined;
}

export function stampCodec(): StampCodec {
  const rows = 2;
  const cols = 24;
  const bits = 24;
  const crcBits = 16;
  const modulus = 2 ** bits;
  const area = { x: 0.03, y: 0.3, w: 0.94, h: 0.4 };
  /** Guard columns and their values in every row: white, black ... black, white. */
  const guards: ReadonlyArray<readonly [number, number]> = [
    [0, 1],
    [1, 0],
    [cols - 2, 0],
    [cols - 1, 1],
  ];
  const dataCols: number[] = [];
  for (let col = 2; col < cols - 2; col++) dataCols.push(col);
  /** A white-black difference smaller than this is no stamp (a flat or grey frame). */
  const minContrast = 48;

  /** CRC-16/CCITT-FALSE of the stamp's three bytes. */
  const crc16 = (value: number): number => {
    let crc = 0xffff;
    for (let shift = 16; shift >= 0; shift -= 8) {
      crc ^= ((value >>> shift) & 0xff) << 8;
      for (let i = 0; i < 8; i++) {
        crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
      }
    }
    return crc;
  };

  /** The 40 payload bits, most significant first: the stamp, then its CRC. */
  const payload = (stamp: number): number[] => {
    const out: number[] = [];
    for (let i = bits - 1; i >= 0; i--) out.push((stamp >>> i) & 1);
    const crc = crc16(stamp);
    for (let i = crcBits - 1; i >= 0; i--) out.push((crc >>> i) & 1);
    return out;
  };

  const cells = (ms: number): number[] => {
    const stamp = ((Math.floor(ms) % modulus) + modulus) % modulus;
    const data = payload(stamp);
    const out = new Array<number>(rows * cols).fill(0);
    let next = 0;
    for (let row = 0; row < rows; row++) {
      for (const [col, value] of guards) out[row * cols + col] = value;
      for (const col of dataCols) out[row * cols + col] = data[next++] ?? 0;
    }
    return out;
  };

  const cellRect = (
    index: number,
    width: number,
    height: number,
  ): { x: number; y: number; w: number; h: number } => {
    const row = Math.floor(index / cols);
    const col = index % cols;
    const x0 = Math.round((area.x + (col / cols) * area.w) * width);
    const x1 = Math.round((area.x + ((col + 1) / cols) * area.w) * width);
    const y0 = Math.round((area.y + (row / rows) * area.h) * height);
    const y1 = Math.round((area.y + ((row + 1) / rows) * area.h) * height);
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  };

  const rasterize = (ms: number, width: number, height: number): Uint8ClampedArray => {
    const rgba = new Uint8ClampedArray(width * height * 4).fill(128);
    for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
    cells(ms).forEach((value, index) => {
      const r = cellRect(index, width, height);
      for (let y = r.y; y < r.y + r.h; y++) {
        rgba.fill(value ? 255 : 0, (y * width + r.x) * 4, (y * width + r.x + r.w) * 4);
        for (let x = r.x; x < r.x + r.w; x++) rgba[(y * width + x) * 4 + 3] = 255;
      }
    });
    return rgba;
  };

  const levels = (rgba: ArrayLike<number>, width: number, height: number): number[] => {
    const out: number[] = [];
    for (let index = 0; index < rows * cols; index++) {
      const r = cellRect(index, width, height);
      // The middle half of the cell in each direction: a quarter of its area.
      const xs = Math.max(0, Math.round(r.x + r.w / 4));
      const xe = Math.min(width, Math.max(xs + 1, Math.round(r.x + (3 * r.w) / 4)));
      const ys = Math.max(0, Math.round(r.y + r.h / 4));
      const ye = Math.min(height, Math.max(ys + 1, Math.round(r.y + (3 * r.h) / 4)));
      let sum = 0;
      let n = 0;
      for (let y = ys; y < ye; y++) {
        for (let x = xs; x < xe; x++) {
          const p = (y * width + x) * 4;
          // BT.601 luma; the pattern is grey-scale, so this is robust to chroma subsampling.
          sum += 0.299 * (rgba[p] ?? 0) + 0.587 * (rgba[p + 1] ?? 0) + 0.114 * (rgba[p + 2] ?? 0);
          n++;
        }
      }
      out.push(n > 0 ? sum / n : 0);
    }
    return out;
  };

  const decode = (values: readonly number[]): number | undefined => {
    if (values.length !== rows * cols) return undefined;
    let white = 0;
    let black = 0;
    for (let row = 0; row < rows; row++) {
      for (const [col, value] of guards) {
        const level = values[row * cols + col] ?? 0;
        if (value) white += level;
        else black += level;
      }
    }
    white /= 2 * rows;
    black /= 2 * rows;
    if (white - black < minContrast) return undefined;
    const threshold = (white + black) / 2;
    for (let row = 0; row < rows; row++) {
      for (const [col, value] of guards) {
        if ((values[row * cols + col] ?? 0) > threshold !== (value === 1)) return undefined;
      }
    }
    let stamp = 0;
    let crc = 0;
    let i = 0;
    for (let row = 0; row < rows; row++) {
      for (const col of dataCols) {
        const bit = (values[row * cols + col] ?? 0) > threshold ? 1 : 0;
        if (i < bits) stamp = stamp * 2 + bit;
        else crc = crc * 2 + bit;
        i++;
      }
    }
    return crc16(stamp) === crc ? stamp : undefined;
  };

  const unwrap = (stamp: number, nowMs: number): number => {
    let back = (((Math.floor(nowMs) - stamp) % modulus) + modulus) % modulus;
    if (back > modulus / 2) back -= modulus;
    return Math.floor(nowMs) - back;
  };

  const read = (
    rgba: ArrayLike<number>,
    width: number,
    height: number,
    nowMs: number,
  ): number | undefined => {
    const stamp = decode(levels(rgba, width, height));
    return stamp === undefined ? undefined : unwrap(stamp, nowMs);
  };

  return { rows, cols, bits, area, cells, cellRect, rasterize, levels, decode, unwrap, read };
}
