/**
 * RowBinary encoding for the ClickHouse server's columnar insert (`INSERT INTO t (...) FORMAT
 * RowBinary`): each row's values in column order, little-endian, strings as a LEB128 length and
 * their UTF-8 bytes, a Nullable value behind one byte (1 = NULL), LowCardinality as its inner type,
 * DateTime64(p) as Int64 ticks of 10^-p s. No vendor client is imported here.
 */
import type { CheckedColumn, ColumnType } from './column-type.js';

type Write = (w: Writer, v: unknown) => void;

/** A growable byte buffer. */
class Writer {
  buf: Buffer;
  at = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.at + n, this.buf.length * 2));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
}

/**
 * Encodes checked columns (`checkColumns`) as one RowBinary payload, rows in order, columns in
 * the order given (the INSERT names them in that order).
 *
 * @example encodeRowBinary(checkColumns([{ name: 's', type: 'String', values: ['ab'] }]).columns, 1) // <02 61 62>
 */
export function encodeRowBinary(columns: readonly CheckedColumn[], rows: number): Buffer {
  const writers = columns.map((c) => writerOf(c.type));
  const w = new Writer(Math.max(64, rows * columns.length * 10));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns.length; c++) writers[c]!(w, columns[c]!.values[r]);
  }
  return w.buf.subarray(0, w.at);
}

function writerOf(type: ColumnType): Write {
  const plain = plainWriter(type);
  if (!type.nullable) return plain;
  return (w, v) => {
    w.ensure(1);
    if (v === null) {
      w.buf[w.at++] = 1;
      return;
    }
    w.buf[w.at++] = 0;
    plain(w, v);
  };
}

function plainWriter(type: ColumnType): Write {
  switch (type.base) {
    case 'String':
      return (w, v) => {
        const s = v as string;
        w.ensure(5 + s.length * 3);
        // The length comes first but is known only once written: reserve the varint of the
        // longest possible byte count, write, then move the bytes if the varint is shorter.
        const maxBytes = s.length * 3;
        const reserve = varintSize(maxBytes);
        const written = w.buf.write(s, w.at + reserve, 'utf8');
        const size = varintSize(written);
        if (size !== reserve) w.buf.copy(w.buf, w.at + size, w.at + reserve, w.at + reserve + written);
        writeVarint(w.buf, w.at, written);
        w.at += size + written;
      };
    case 'UInt8':
      return fixed(1, (b, at, v) => b.writeUInt8(v, at));
    case 'Int8':
      return fixed(1, (b, at, v) => b.writeInt8(v, at));
    case 'UInt16':
      return fixed(2, (b, at, v) => b.writeUInt16LE(v, at));
    case 'Int16':
      return fixed(2, (b, at, v) => b.writeInt16LE(v, at));
    case 'UInt32':
      return fixed(4, (b, at, v) => b.writeUInt32LE(v, at));
    case 'Int32':
      return fixed(4, (b, at, v) => b.writeInt32LE(v, at));
    case 'UInt64':
    case 'Int64':
      return (w, v) => {
        w.ensure(8);
        w.buf.writeBigInt64LE(BigInt.asIntN(64, typeof v === 'bigint' ? v : BigInt(v as number)), w.at);
        w.at += 8;
      };
    case 'Float32':
      return fixed(4, (b, at, v) => b.writeFloatLE(v, at));
    case 'Float64':
      return fixed(8, (b, at, v) => b.writeDoubleLE(v, at));
    case 'DateTime64': {
      const p = type.precision;
      return (w, v) => {
        const ms = v as number;
        w.ensure(8);
        // checkColumns made ms a whole tick when p < 3.
        const ticks = p >= 3 ? BigInt(ms) * 10n ** BigInt(p - 3) : BigInt(ms / 10 ** (3 - p));
        w.buf.writeBigInt64LE(ticks, w.at);
        w.at += 8;
      };
    }
  }
}

function fixed(size: number, write: (b: Buffer, at: number, v: number) => void): Write {
  return (w, v) => {
    w.ensure(size);
    write(w.buf, w.at, v as number);
    w.at += size;
  };
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(b: Buffer, at: number, n: number): void {
  while (n >= 0x80) {
    b[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  b[at] = n;
}
