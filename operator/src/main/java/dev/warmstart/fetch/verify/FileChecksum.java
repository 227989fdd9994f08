package dev.warmstart.fetch.verify;

import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.TargetPaths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * A checksum of a whole file as its source states it: S3's full-object checksums (base64), the MD5
 * that a single-part S3 ETag is, the SHA-256 the Hub lists for large files (hex).
 *
 * @param algorithm what was computed
 * @param expected the checksum's bytes
 * @param base64 whether the source writes it in base64 (S3's x-amz-checksum-*) rather than hex;
 *     messages use the same spelling so that it can be compared with what the source shows
 * @param origin where it comes from, for messages ("S3", "the S3 ETag", "the Hub")
 */
public record FileChecksum(Algorithm algorithm, byte[] expected, boolean base64, String origin) {

  /**
   * In order of preference: CRCs are computed per part as the parts arrive; digests need a pass in
   * order.
   */
  public enum Algorithm {
    CRC64NVME(Crc.CRC64NVME, null),
    CRC32C(Crc.CRC32C, null),
    CRC32(Crc.CRC32, null),
    SHA256(null, "SHA-256"),
    SHA512(null, "SHA-512"),
    SHA1(null, "SHA-1"),
    MD5(null, "MD5");

    public final Crc crc;
    private final String digest;

    Algorithm(Crc crc, String digest) {
      this.crc = crc;
      this.digest = digest;
    }

    public boolean isCrc() {
      return crc != null;
    }

    String label() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** A digest over bytes fed in order (also works for the CRCs). */
    public Hasher start() {
      if (crc != null) {
        Crc.Running running = crc.start();
        return new Hasher() {
          @Override
          public void update(byte[] b, int off, int len) {
            running.update(b, off, len);
          }

          @Override
          public byte[] result() {
            return crc.bytes(running.value());
          }
        };
      }
      MessageDigest md;
      try {
        md = MessageDigest.getInstance(digest);
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
      return new Hasher() {
        @Override
        public void update(byte[] b, int off, int len) {
          md.update(b, off, len);
        }

        @Override
        public byte[] result() {
          return md.digest();
        }
      };
    }
  }

  public interface Hasher {
    void update(byte[] b, int off, int len);

    byte[] result();
  }

  public static FileChecksum hex(Algorithm algorithm, String hex, String origin) {
    return new FileChecksum(
        algorithm, HexFormat.of().parseHex(hex.toLowerCase(Locale.ROOT)), false, origin);
  }

  /**
   * Null when {@code value} is not plain base64 (S3 writes a multipart upload's checksum as
   * "base64-N").
   */
  public static FileChecksum base64(Algorithm algorithm, String value, String origin) {
    try {
      return new FileChecksum(algorithm, Base64.getDecoder().decode(value), true, origin);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /** The one to verify: a file proven by one checksum needs no second pass for another. */
  public static Optional<FileChecksum> preferred(List<FileChecksum> available) {
    return available.stream().min(Comparator.comparing(FileChecksum::algorithm));
  }

  public boolean matches(byte[] actual) {
    return MessageDigest.isEqual(expected, actual);
  }

  String format(byte[] value) {
    return base64 ? Base64.getEncoder().encodeToString(value) : HexFormat.of().formatHex(value);
  }

  /** "'name': crc64nvme mismatch: S3 says X, the download has Y" */
  public FetchException mismatch(String name, byte[] actual) {
    return FetchException.fatal(
        "'"
            + TargetPaths.printable(name)
            + "': "
            + algorithm.label()
            + " mismatch: "
            + origin
            + " says "
            + format(expected)
            + ", the download has "
            + format(actual)
            + "; the file is corrupt at the source or was damaged in transit, and was not kept");
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof FileChecksum c
        && c.algorithm == algorithm
        && Arrays.equals(c.expected, expected);
  }

  @Override
  public int hashCode() {
    return algorithm.hashCode() * 31 + Arrays.hashCode(expected);
  }

  @Override
  public String toString() {
    return algorithm.label() + " " + format(expected) + " (" + origin + ")";
  }
}
