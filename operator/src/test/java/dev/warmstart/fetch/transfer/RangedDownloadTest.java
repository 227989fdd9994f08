package dev.warmstart.fetch.transfer;

import static dev.warmstart.fetch.command.FetchModelSupport.assertFiles;
import static dev.warmstart.fetch.command.FetchModelSupport.assertNoTempFiles;
import static dev.warmstart.fetch.command.FetchModelSupport.files;
import static dev.warmstart.fetch.command.FetchModelSupport.randomBytes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.Log;
import dev.warmstart.fetch.source.ModelSource;
import dev.warmstart.fetch.source.RemoteFile;
import dev.warmstart.fetch.verify.FileChecksum;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ranged, parallel downloads through the Downloader against an in-memory source that serves byte
 * ranges.
 */
class RangedDownloadTest {
  private static final int PART = 64 * 1024;

  @TempDir Path dir;
  final StringWriter log = new StringWriter();

  /** Serves files in ranges; scripts answers per (path, offset); counts opens and concurrency. */
  static class RangedSource implements ModelSource {
    final List<RemoteFile> listing = new ArrayList<>();
    final Map<String, byte[]> content = new HashMap<>();
    final Map<String, String> versions = new HashMap<>();
    final Map<String, List<FileChecksum>> checksums = new HashMap<>();

    /** "path@offset" -> opens */
    final Map<String, Integer> opens = new ConcurrentHashMap<>();

    /**
     * "path@offset" -> the next answers: an IOException to throw, or an Integer: serve only that
     * many bytes.
     */
    final Map<String, List<Object>> script = new ConcurrentHashMap<>();

    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    volatile long delayMillis;

    /** When set, the bytes at offset 0 are held until a part at another offset has been opened. */
    volatile CountDownLatch holdFirstPart;

    /** Parts served before every further open fails for good (-1: never). */
    volatile int failAfter = -1;

    final AtomicInteger served = new AtomicInteger();

    /** Bodies opened at this offset come a chunk at a time, each after a pause (-1: none does). */
    volatile long slowOffset = -1;

    volatile int slowChunk;
    volatile long slowPauseMillis;

    /** Every open at an offset that is not a part's fails for good (a share of a split part). */
    volatile boolean failShares;

    RangedSource file(String path, byte[] bytes) {
      listing.add(new RemoteFile(path, bytes.length, null, path));
      content.put(path, bytes);
      versions.put(path, "v1");
      return this;
    }

    RangedSource then(String path, long offset, Object... answers) {
      script.computeIfAbsent(path + "@" + offset, k -> new ArrayList<>()).addAll(List.of(answers));
      return this;
    }

    int opens(String path, long offset) {
      return opens.getOrDefault(path + "@" + offset, 0);
    }

    /** The offsets of {@code path} opened, in order. */
    Set<Long> offsetsOpened(String path) {
      Set<Long> offsets = new TreeSet<>();
      opens.keySet().stream()
          .filter(k -> k.startsWith(path + "@"))
          .forEach(k -> offsets.add(Long.parseLong(k.substring(path.length() + 1))));
      return offsets;
    }

    @Override
    public String displayUri() {
      return "fake://model";
    }

    @Override
    public List<RemoteFile> list() {
      return listing;
    }

    @Override
    public Body open(RemoteFile file) {
      throw new AssertionError("a ranged source is never read whole");
    }

    @Override
    public Access access(RemoteFile file, long offset, long length) {
      byte[] bytes = content.get(file.path());
      String version = versions.get(file.path());
      List<FileChecksum> checks = checksums.getOrDefault(file.path(), List.of());
      return new Ranged() {
        @Override
        public long size() {
          return bytes.length;
        }

        @Override
        public String version() {
          return version;
        }

        @Override
        public List<FileChecksum> checksums() {
          return checks;
        }

        @Override
        public Body open(long off, long len) throws IOException {
          return serve(file.path(), bytes, off, len);
        }
      };
    }

    private Body serve(String path, byte[] bytes, long off, long len) throws IOException {
      opens.merge(path + "@" + off, 1, Integer::sum);
      CountDownLatch hold = holdFirstPart;
      if (hold != null && off > 0) {
        hold.countDown();
      }
      if (failAfter >= 0 && served.get() >= failAfter) {
        throw FetchException.fatal("access denied (test)");
      }
      if (failShares && off % PART != 0) {
        throw new IOException("reset (test: a share)");
      }
      List<Object> answers = script.getOrDefault(path + "@" + off, new ArrayList<>());
      Object answer = answers.isEmpty() ? null : answers.remove(0);
      if (answer instanceof IOException e) {
        throw e;
      }
      int n = answer instanceof Integer i ? i : (int) len;
      int now = inFlight.incrementAndGet();
      maxInFlight.accumulateAndGet(now, Math::max);
      InputStream in =
          new ByteArrayInputStream(Arrays.copyOfRange(bytes, (int) off, (int) off + n)) {
            private boolean closed;

            @Override
            public synchronized int read(byte[] b, int o, int l) {
              if (hold != null && off == 0 && pos == 0 && !await(hold)) {
                throw new java.io.UncheckedIOException(
                    new IOException(
                        "test: no other part was requested while the first one was held"));
              }
              if (delayMillis > 0 && pos == 0) {
                sleep(delayMillis);
              }
              if (off == slowOffset) {
                sleep(slowPauseMillis);
                return super.read(b, o, Math.min(l, slowChunk));
              }
              return super.read(b, o, l);
            }

            @Override
            public void close() {
              if (!closed) {
                closed = true;
                inFlight.decrementAndGet();
                if (pos == count && n == len) {
                  served.incrementAndGet();
                }
              }
            }
          };
      return new Body(in, len);
    }
  }

  private static boolean await(CountDownLatch latch) {
    try {
      return latch.await(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Without sharing the last parts: these tests count requests per part (the sharing tests use
   * {@link #sharing}).
   */
  private Downloader downloader(int concurrency) {
    return new Downloader(
        dir, new Log(new PrintWriter(log, true)), settings(concurrency).withoutTailSharing());
  }

  private Downloader sharing(int concurrency) {
    return new Downloader(dir, new Log(new PrintWriter(log, true)), settings(concurrency));
  }

  private static FetchSettings settings(int concurrency) {
    return new FetchSettings(
        3, Duration.ofMillis(1), Duration.ofSeconds(10), Duration.ofSeconds(10), concurrency, PART);
  }

  private static int parts(byte[] b) {
    return (b.length + PART - 1) / PART;
  }

  @Test
  void partsOfManyFilesAssembleIntoTheSameBytes() throws IOException {
    byte[] a = randomBytes(16 * PART + 7, 1);
    byte[] b = randomBytes(PART, 2);
    byte[] d = randomBytes(100, 3);
    RangedSource source =
        new RangedSource()
            .file("a.bin", a)
            .file("sub/b.bin", b)
            .file("c.txt", new byte[0])
            .file("d.json", d);

    Downloader.Result result = downloader(8).fetch(source);

    assertFiles(Map.of("a.bin", a, "sub/b.bin", b, "c.txt", new byte[0], "d.json", d), dir);
    assertEquals(a.length + b.length + d.length, result.bytes());
    assertEquals(4, result.files());
    for (int p = 0; p < parts(a); p++) {
      assertEquals(1, source.opens("a.bin", (long) p * PART), "part " + p + " fetched once");
    }
    assertEquals(Set.of(0L), source.offsetsOpened("sub/b.bin"));
    assertEquals(Set.of(), source.offsetsOpened("c.txt"), "a 0-byte file needs no range");
    assertTrue(source.maxInFlight.get() <= 8);
    assertNoTempFiles(dir);
  }

  @Test
  void theOtherPartsStartWhileTheFirstRequestIsStillArriving() throws IOException {
    // The first request of a file tells its size and carries the first part; waiting for that part
    // before
    // asking for the others would start every file on one connection.
    byte[] a = randomBytes(4 * PART, 21);
    RangedSource source = new RangedSource().file("a.bin", a);
    source.holdFirstPart = new CountDownLatch(1);

    downloader(4).fetch(source);

    assertFiles(Map.of("a.bin", a), dir);
    assertEquals(
        1,
        source.opens("a.bin", 0),
        "the first part was not retried: others came while it was held");
  }

  @Test
  void whatThePartsInFlightHaveLeftIsSharedWithSlotsThatRunOutOfWork() throws IOException {
    // Part 0 trickles in. Part 1 is done at once, and its slot, with nothing queued, takes over the
    // upper
    // half of what part 0 has left: the end of a download is not left to the slowest connection.
    byte[] a = randomBytes(2 * PART, 31);
    RangedSource source = tricklingFirstPart(a);

    Downloader.Result result = sharing(2).fetch(source);

    assertFiles(Map.of("a.bin", a), dir);
    Set<Long> offsets = source.offsetsOpened("a.bin");
    assertTrue(
        offsets.stream().anyMatch(o -> o > 0 && o < PART),
        "part 0 shared from an offset inside it: " + offsets);
    assertEquals(1, source.opens("a.bin", 0), "part 0 itself was not fetched again");
    assertEquals(1, source.opens("a.bin", PART));
    assertEquals(a.length, result.bytes(), "no byte counted twice");
    assertNoTempFiles(dir);
  }

  @Test
  void aPartIsDoneOnlyWhenEveryShareOfItIs() throws IOException {
    byte[] a = randomBytes(2 * PART, 32);
    RangedSource source = tricklingFirstPart(a);
    source.failShares = true;

    FetchException e = assertThrows(FetchException.class, () -> sharing(2).fetch(source));

    assertTrue(
        e.getMessage().contains(", part 1 of 2) failed 3 times; last error: reset (test: a share)"),
        e.getMessage());
    assertFalse(Files.exists(dir.resolve("a.bin")));

    // The next run: part 1 is on disk, part 0 is not (its lower share may have arrived, its upper
    // did not).
    source.opens.clear();
    source.failShares = false;
    source.slowOffset = -1;
    Downloader.Result second = sharing(2).fetch(source);

    assertFiles(Map.of("a.bin", a), dir);
    assertEquals(Set.of(0L), source.offsetsOpened("a.bin"));
    assertEquals(PART, second.bytes());
    assertNoTempFiles(dir);
  }

  /** "a.bin" with a CRC32C, its first part served 1 KiB at a time, 3 ms apart. */
  private static RangedSource tricklingFirstPart(byte[] a) {
    RangedSource source = new RangedSource().file("a.bin", a);
    source.checksums.put("a.bin", List.of(crc32c(a)));
    source.slowOffset = 0;
    source.slowChunk = 1024;
    source.slowPauseMillis = 3;
    return source;
  }

  @Test
  void concurrencyIsCappedAcrossFiles() throws IOException {
    RangedSource source =
        new RangedSource()
            .file("a.bin", randomBytes(12 * PART, 4))
            .file("b.bin", randomBytes(12 * PART, 5));
    source.delayMillis = 20;

    downloader(3).fetch(source);

    assertEquals(3, source.maxInFlight.get(), "three in flight, never more");
  }

  @Test
  void failedPartsAreRetriedAloneWhetherTheyBreakOrEndShort() throws IOException {
    byte[] a = randomBytes(8 * PART, 6);
    RangedSource source =
        new RangedSource()
            .file("a.bin", a)
            .then("a.bin", 2L * PART, new IOException("Connection reset"), PART / 2)
            .then("a.bin", 5L * PART, 10);

    downloader(4).fetch(source);

    assertFiles(Map.of("a.bin", a), dir);
    assertEquals(3, source.opens("a.bin", 2L * PART));
    assertEquals(2, source.opens("a.bin", 5L * PART));
    assertEquals(1, source.opens("a.bin", 0));
    assertTrue(
        log.toString()
            .contains(
                "downloading 'a.bin' (bytes 131072-196607, part 3 of 8): attempt 1 of 3"
                    + " failed: Connection reset (IOException); retrying in"),
        log.toString());
    assertTrue(
        log.toString()
            .contains(
                "'a.bin' (bytes 131072-196607, part 3 of 8): got 32768 of 65536 bytes;"
                    + " the connection ended early"),
        log.toString());
  }

  @Test
  void partFailingForGoodFailsTheRunAndTheNextRunFetchesOnlyTheMissingParts() throws IOException {
    byte[] a = randomBytes(10 * PART + 99, 7);
    RangedSource source = new RangedSource().file("a.bin", a);
    source.checksums.put("a.bin", List.of(crc64(a)));
    source.then(
        "a.bin",
        4L * PART,
        new IOException("reset 1"),
        new IOException("reset 2"),
        new IOException("reset 3"));

    FetchException e = assertThrows(FetchException.class, () -> downloader(1).fetch(source));

    assertEquals(
        "downloading 'a.bin' (bytes 262144-327679, part 5 of 11) failed 3 times; last error: reset 3"
            + " (IOException)",
        e.getMessage());
    assertFalse(Files.exists(dir.resolve("a.bin")), "no final file");
    assertTrue(Files.exists(dir.resolve(".a.bin.partial")), "kept for a resume");
    assertTrue(Files.exists(dir.resolve(".a.bin.partial.state")));

    // A new process against the healthy source: parts 0-3 are on disk.
    source.opens.clear();
    Downloader.Result second = downloader(4).fetch(source);

    assertFiles(Map.of("a.bin", a), dir);
    assertEquals(
        Set.of(4L, 5L, 6L, 7L, 8L, 9L, 10L).stream()
            .map(p -> p * PART)
            .collect(java.util.stream.Collectors.toCollection(TreeSet::new)),
        source.offsetsOpened("a.bin"));
    assertEquals(a.length - 4L * PART, second.bytes(), "only the missing bytes transferred");
    assertTrue(
        log.toString()
            .contains(
                "'a.bin': resuming: 4 of 11 parts (256.0 KiB) are on disk from an earlier run"),
        log.toString());
    assertNoTempFiles(dir);
    assertFalse(Files.exists(dir.resolve(".a.bin.partial.state")));
  }

  @Test
  void fileChangedAtTheSourceStartsOver() throws IOException {
    byte[] a = randomBytes(6 * PART, 8);
    RangedSource source = new RangedSource().file("a.bin", a);
    source.failAfter = 3;
    assertThrows(FetchException.class, () -> downloader(1).fetch(source));
    assertTrue(Files.exists(dir.resolve(".a.bin.partial.state")));

    byte[] changed = randomBytes(6 * PART, 9);
    source.content.put("a.bin", changed);
    source.versions.put("a.bin", "v2");
    source.failAfter = -1;
    source.opens.clear();
    downloader(4).fetch(source);

    assertFiles(Map.of("a.bin", changed), dir);
    assertEquals(6, source.offsetsOpened("a.bin").size(), "all parts again");
    assertTrue(
        log.toString()
            .contains(
                "'a.bin': changed at the source since the earlier, partial download;"
                    + " starting it over"),
        log.toString());
  }

  @Test
  void withoutAVersionNothingIsKeptForAResume() throws IOException {
    RangedSource source = new RangedSource().file("a.bin", randomBytes(6 * PART, 10));
    source.versions.put("a.bin", null);
    source.failAfter = 3;

    assertThrows(FetchException.class, () -> downloader(1).fetch(source));

    assertTrue(files(dir).isEmpty(), files(dir).keySet().toString());
  }

  @Test
  void crcsAndDigestsAreVerified() throws IOException {
    byte[] a = randomBytes(5 * PART + 3, 11);
    byte[] b = randomBytes(3 * PART, 12);
    byte[] c = randomBytes(2 * PART + 1, 13);
    RangedSource source = new RangedSource().file("a.bin", a).file("b.bin", b).file("c.bin", c);
    source.checksums.put("a.bin", List.of(crc64(a), md5Etag(a)));
    source.checksums.put("b.bin", List.of(crc32c(b)));
    source.checksums.put("c.bin", List.of(sha256(c)));

    downloader(4).fetch(source);

    assertFiles(Map.of("a.bin", a, "b.bin", b, "c.bin", c), dir);
  }

  @Test
  void checksumMismatchIsFatalAndLeavesNoFile() throws IOException {
    byte[] a = randomBytes(3 * PART + 5, 14);
    byte[] other = a.clone();
    other[PART + 1] ^= 1;
    RangedSource source = new RangedSource().file("a.bin", a);
    FileChecksum wrong = crc64(other);
    source.checksums.put("a.bin", List.of(wrong));

    FetchException e = assertThrows(FetchException.class, () -> downloader(4).fetch(source));

    assertEquals(
        "'a.bin': crc64nvme mismatch: S3 says "
            + Base64.getEncoder().encodeToString(wrong.expected())
            + ", the download has "
            + Base64.getEncoder().encodeToString(crc64(a).expected())
            + "; the file is corrupt at the source or was damaged in transit, and was not kept",
        e.getMessage());
    assertTrue(files(dir).isEmpty(), "no file, final, temporary or state: " + files(dir).keySet());
  }

  @Test
  void aFileInPlaceIsCheckedAndSkipped() throws IOException {
    byte[] a = randomBytes(3 * PART, 15);
    byte[] b = randomBytes(3 * PART, 16);
    Files.write(dir.resolve("a.bin"), a);
    byte[] stale = b.clone();
    stale[7] ^= 1;
    Files.write(dir.resolve("b.bin"), stale);
    RangedSource source = new RangedSource().file("a.bin", a).file("b.bin", b);
    source.checksums.put("a.bin", List.of(sha256(a)));
    source.checksums.put("b.bin", List.of(sha256(b)));

    Downloader.Result result = downloader(4).fetch(source);

    assertFiles(Map.of("a.bin", a, "b.bin", b), dir);
    assertEquals(Set.of(), source.offsetsOpened("a.bin"));
    assertEquals(3, source.offsetsOpened("b.bin").size(), "same size, other bytes: fetched again");
    assertEquals(b.length, result.bytes());
    assertTrue(log.toString().contains("'a.bin' is in place already (192.0 KiB)"), log.toString());
    assertTrue(
        log.toString()
            .contains("'b.bin' is in place but differs from the source; fetching it again"),
        log.toString());
  }

  @Test
  void sizeDifferentFromTheListingIsAnError() {
    RangedSource source = new RangedSource().file("a.bin", randomBytes(PART, 17));
    source.listing.set(0, new RemoteFile("a.bin", PART + 1, null, "a.bin"));

    FetchException e = assertThrows(FetchException.class, () -> downloader(4).fetch(source));

    assertEquals(
        "'a.bin': the listing says 65537 bytes, the server now has 65536; did the model change during the"
            + " download? Run again.",
        e.getMessage());
  }

  @Test
  void moreBytesThanAskedIsAnError() throws IOException {
    RangedSource source =
        new RangedSource() {
          @Override
          public Access access(RemoteFile file, long offset, long length) {
            return new Ranged() {
              @Override
              public long size() {
                return 2 * PART;
              }

              @Override
              public String version() {
                return "v1";
              }

              @Override
              public List<FileChecksum> checksums() {
                return List.of();
              }

              @Override
              public Body open(long off, long len) {
                return new Body(new ByteArrayInputStream(new byte[(int) len + 1]), len);
              }
            };
          }
        }.file("a.bin", new byte[2 * PART]);

    FetchException e = assertThrows(FetchException.class, () -> downloader(1).fetch(source));

    assertEquals(
        "'a.bin' (bytes 0-65535, part 1 of 2): the server sent more than the 65536 bytes asked for",
        e.getMessage());
    assertTrue(files(dir).isEmpty(), files(dir).keySet().toString());
  }

  // ---- checksums computed independently of the code under test ----

  static FileChecksum crc64(byte[] data) {
    long poly = Long.reverse(0xAD93D23594C93659L);
    long crc = ~0L;
    for (byte x : data) {
      crc ^= x & 0xff;
      for (int k = 0; k < 8; k++) {
        crc = (crc & 1) != 0 ? (crc >>> 1) ^ poly : crc >>> 1;
      }
    }
    return FileChecksum.base64(
        FileChecksum.Algorithm.CRC64NVME,
        Base64.getEncoder().encodeToString(java.nio.ByteBuffer.allocate(8).putLong(~crc).array()),
        "S3");
  }

  static FileChecksum crc32c(byte[] data) {
    CRC32C c = new CRC32C();
    c.update(data);
    return FileChecksum.base64(
        FileChecksum.Algorithm.CRC32C,
        Base64.getEncoder()
            .encodeToString(java.nio.ByteBuffer.allocate(4).putInt((int) c.getValue()).array()),
        "S3");
  }

  static FileChecksum sha256(byte[] data) {
    return FileChecksum.hex(FileChecksum.Algorithm.SHA256, hex("SHA-256", data), "the source");
  }

  static FileChecksum md5Etag(byte[] data) {
    return FileChecksum.hex(FileChecksum.Algorithm.MD5, hex("MD5", data), "the S3 ETag");
  }

  private static String hex(String algorithm, byte[] data) {
    try {
      return java.util.HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(data));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void crc64ReferenceMatchesTheCatalogue() {
    FileChecksum c = crc64("123456789".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    assertArrayEquals(
        java.nio.ByteBuffer.allocate(8).putLong(0xAE8B14860A799888L).array(), c.expected());
    assertNull(
        FileChecksum.base64(FileChecksum.Algorithm.CRC32, "abc=-3", "S3"),
        "a composite checksum is not one");
  }
}
