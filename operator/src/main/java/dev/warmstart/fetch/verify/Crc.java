package dev.warmstart.fetch.verify;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;
import java.util.zip.Checksum;

/**
 * The CRCs that S3 states for whole objects (CRC32, CRC32C, CRC-64/NVME), with a combine operation:
 * the CRC of a file is computed part by part while the parts arrive in parallel, then the part CRCs
 * are combined in order, so verifying a ranged download needs no second pass over the file.
 */
public enum Crc {
  CRC32(32, 0x04C11DB7L),
  CRC32C(32, 0x1EDC6F41L),
  /** S3's default full-object checksum for new uploads; the JDK has no implementation of it. */
  CRC64NVME(64, 0xAD93D23594C93659L);

  private final int width;

  /** The polynomial bit-reversed, as the reflected algorithms use it. */
  private final long reflected;

  Crc(int width, long polynomial) {
    this.width = width;
    this.reflected = width == 64 ? Long.reverse(polynomial) : Long.reverse(polynomial) >>> 32;
  }

  /** A running CRC over bytes fed in order. */
  public interface Running {
    void update(byte[] b, int off, int len);

    /** The CRC of the bytes so far. */
    long value();
  }

  public Running start() {
    return switch (this) {
      case CRC32 -> jdk(new CRC32());
      case CRC32C -> jdk(new CRC32C());
      case CRC64NVME -> new Crc64();
    };
  }

  private static Running jdk(Checksum c) {
    return new Running() {
      @Override
      public void update(byte[] b, int off, int len) {
        c.update(b, off, len);
      }

      @Override
      public long value() {
        return c.getValue();
      }
    };
  }

  /** The value as S3 transmits it: big-endian bytes of the CRC's width. */
  public byte[] bytes(long value) {
    int n = width / 8;
    byte[] out = new byte[n];
    for (int i = 0; i < n; i++) {
      out[i] = (byte) (value >>> (8 * (n - 1 - i)));
    }
    return out;
  }

  /**
   * Appends {@code length} bytes' worth of CRC: given crc(A) and crc(B) where B is {@code length}
   * bytes long, {@code shifter(length).shift(crc(A)) ^ crc(B)} is crc(A followed by B). Builds the
   * GF(2) operator for {@code length} zero bytes once (zlib's crc32_combine, generalized to 64
   * bits), so combining the many equal-sized parts of a file costs one matrix-vector product each.
   */
  public Shifter shifter(long length) {
    long[] result = null;
    long[] base = zeroByteOperator();
    for (long n = length; n > 0; n >>>= 1) {
      if ((n & 1) != 0) {
        result = result == null ? base.clone() : multiply(base, result);
      }
      if (n > 1) {
        base = multiply(base, base);
      }
    }
    long[] op = result;
    return crc -> op == null ? crc : times(op, crc);
  }

  @FunctionalInterface
  public interface Shifter {
    long shift(long crc);
  }

  /** The operator that feeds one zero byte through the (reflected) shift register. */
  private long[] zeroByteOperator() {
    long[] bit = new long[width];
    bit[0] = reflected;
    for (int n = 1; n < width; n++) {
      bit[n] = 1L << (n - 1);
    }
    long[] op = bit;
    for (int i = 0; i < 3; i++) {
      op = multiply(op, op); // 1, 2, 4, then 8 zero bits
    }
    return op;
  }

  /** The operator "b, then a": column i is a applied to b's column i. */
  private long[] multiply(long[] a, long[] b) {
    long[] out = new long[width];
    for (int i = 0; i < width; i++) {
      out[i] = times(a, b[i]);
    }
    return out;
  }

  private static long times(long[] matrix, long vector) {
    long sum = 0;
    for (int i = 0; vector != 0; i++, vector >>>= 1) {
      if ((vector & 1) != 0) {
        sum ^= matrix[i];
      }
    }
    return sum;
  }

  /**
   * CRC-64/NVME (reflected, init and final XOR all ones), eight bytes per step ("slicing by 8").
   */
  private static final class Crc64 implements Running {
    private static final long[][] TABLE = table();
    private static final VarHandle LONG_LE =
        MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private long state = ~0L;

    private static long[][] table() {
      long poly = CRC64NVME.reflected;
      long[][] t = new long[8][256];
      for (int i = 0; i < 256; i++) {
        long c = i;
        for (int k = 0; k < 8; k++) {
          c = (c & 1) != 0 ? (c >>> 1) ^ poly : c >>> 1;
        }
        t[0][i] = c;
      }
      for (int k = 1; k < 8; k++) {
        for (int i = 0; i < 256; i++) {
          t[k][i] = (t[k - 1][i] >>> 8) ^ t[0][(int) (t[k - 1][i] & 0xff)];
        }
      }
      return t;
    }

    @Override
    public void update(byte[] b, int off, int len) {
      long c = state;
      long[][] t = TABLE;
      int i = off;
      int end = off + len;
      for (; i + 8 <= end; i += 8) {
        long v = c ^ (long) LONG_LE.get(b, i);
        c =
            t[7][(int) (v & 0xff)]
                ^ t[6][(int) ((v >>> 8) & 0xff)]
                ^ t[5][(int) ((v >>> 16) & 0xff)]
                ^ t[4][(int) ((v >>> 24) & 0xff)]
                ^ t[3][(int) ((v >>> 32) & 0xff)]
                ^ t[2][(int) ((v >>> 40) & 0xff)]
                ^ t[1][(int) ((v >>> 48) & 0xff)]
                ^ t[0][(int) (v >>> 56)];
      }
      for (; i < end; i++) {
        c = (c >>> 8) ^ t[0][(int) ((c ^ b[i]) & 0xff)];
      }
      state = c;
    }

    @Override
    public long value() {
      return ~state;
    }
  }
}
