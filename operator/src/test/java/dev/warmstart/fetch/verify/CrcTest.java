package dev.warmstart.fetch.verify;

import static dev.warmstart.fetch.command.FetchModelSupport.randomBytes;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

class CrcTest {
  private static final byte[] CHECK = "123456789".getBytes(StandardCharsets.US_ASCII);

  private static long crc(Crc kind, byte[] b, int off, int len) {
    Crc.Running r = kind.start();
    r.update(b, off, len);
    return r.value();
  }

  @Test
  void checkValuesOfTheCatalogue() {
    assertEquals(0xCBF43926L, crc(Crc.CRC32, CHECK, 0, 9));
    assertEquals(0xE3069283L, crc(Crc.CRC32C, CHECK, 0, 9));
    assertEquals(0xAE8B14860A799888L, crc(Crc.CRC64NVME, CHECK, 0, 9));
    assertEquals(0L, crc(Crc.CRC64NVME, CHECK, 0, 0), "no bytes");
  }

  @Test
  void crc64AgreesWithABitwiseReferenceAtEveryAlignment() {
    byte[] data = randomBytes(1000, 1);
    for (int off = 0; off < 9; off++) {
      for (int len : new int[] {0, 1, 7, 8, 9, 63, 500}) {
        assertEquals(
            bitwiseCrc64(data, off, len), crc(Crc.CRC64NVME, data, off, len), off + "+" + len);
      }
    }
  }

  @Test
  void partCrcsCombineIntoTheWholeFilesCrc() {
    byte[] data = randomBytes(300_000, 2);
    Random random = new Random(3);
    for (Crc kind : Crc.values()) {
      for (int trial = 0; trial < 5; trial++) {
        int cut = random.nextInt(data.length + 1);
        long a = crc(kind, data, 0, cut);
        long b = crc(kind, data, cut, data.length - cut);
        assertEquals(
            crc(kind, data, 0, data.length),
            kind.shifter(data.length - cut).shift(a) ^ b,
            kind + " cut at " + cut);
      }
    }
    CRC32 jdk = new CRC32();
    jdk.update(data);
    assertEquals(jdk.getValue(), crc(Crc.CRC32, data, 0, data.length));
    CRC32C jdkC = new CRC32C();
    jdkC.update(data);
    assertEquals(jdkC.getValue(), crc(Crc.CRC32C, data, 0, data.length));
  }

  @Test
  void bytesAreBigEndianOfTheWidth() {
    assertEquals(
        "CBF43926",
        java.util.HexFormat.of().withUpperCase().formatHex(Crc.CRC32.bytes(0xCBF43926L)));
    assertEquals(8, Crc.CRC64NVME.bytes(1).length);
  }

  private static long bitwiseCrc64(byte[] data, int off, int len) {
    long poly = Long.reverse(0xAD93D23594C93659L);
    long crc = ~0L;
    for (int i = off; i < off + len; i++) {
      crc ^= data[i] & 0xff;
      for (int k = 0; k < 8; k++) {
        crc = (crc & 1) != 0 ? (crc >>> 1) ^ poly : crc >>> 1;
      }
    }
    return ~crc;
  }
}
