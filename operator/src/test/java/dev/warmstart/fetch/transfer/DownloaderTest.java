package dev.warmstart.fetch.transfer;

import static dev.warmstart.fetch.command.FetchModelSupport.assertFiles;
import static dev.warmstart.fetch.command.FetchModelSupport.files;
import static dev.warmstart.fetch.command.FetchModelSupport.randomBytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.fetch.FetchException;
import dev.warmstart.fetch.Log;
import dev.warmstart.fetch.source.ModelSource;
import dev.warmstart.fetch.source.RemoteFile;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Downloader against an in-memory source whose answers each test scripts. */
class DownloaderTest {
  @TempDir Path dir;
  final StringWriter log = new StringWriter();

  /**
   * Serves {@code files} by path; {@code script} can replace the answer of the nth open of a path.
   */
  static class FakeSource implements ModelSource {
    final List<RemoteFile> listing = new ArrayList<>();
    final Map<String, byte[]> content = new HashMap<>();
    final Map<String, Integer> opens = new HashMap<>();
    final Map<String, List<Object>> script = new HashMap<>();

    FakeSource file(String path, byte[] bytes, long listedSize) {
      listing.add(new RemoteFile(path, listedSize, null, path));
      content.put(path, bytes);
      return this;
    }

    /**
     * The next opens of {@code path} answer, in order: a byte[] body, or an IOException to throw.
     */
    FakeSource then(String path, Object... answers) {
      script.computeIfAbsent(path, p -> new ArrayList<>()).addAll(List.of(answers));
      return this;
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
    public Body open(RemoteFile file) throws IOException {
      opens.merge(file.path(), 1, Integer::sum);
      List<Object> answers = script.getOrDefault(file.path(), List.of());
      Object answer = answers.isEmpty() ? content.get(file.path()) : answers.remove(0);
      if (answer instanceof IOException e) {
        throw e;
      }
      byte[] bytes = (byte[]) answer;
      return new Body(new ByteArrayInputStream(bytes), -1);
    }
  }

  private Downloader downloader() {
    return new Downloader(
        dir,
        new Log(new PrintWriter(log, true)),
        new FetchSettings(3, Duration.ofMillis(1), Duration.ofSeconds(10), Duration.ofSeconds(10)));
  }

  @Test
  void writesEveryFileAndCountsTheBytes() throws IOException {
    byte[] a = randomBytes(3 * 1024 * 1024 + 1, 1);
    FakeSource source = new FakeSource().file("a.bin", a, a.length).file("d/b.txt", new byte[0], 0);

    Downloader.Result result = downloader().fetch(source);

    assertEquals(a.length, result.bytes());
    assertEquals(2, result.files());
    assertFiles(Map.of("a.bin", a, "d/b.txt", new byte[0]), dir);
  }

  @Test
  void streamEndingShortOfTheListedSizeIsRetriedAndNeverKept() throws IOException {
    byte[] a = randomBytes(1000, 2);
    FakeSource source =
        new FakeSource()
            .file("a.bin", a, a.length)
            .then("a.bin", new byte[500], new byte[999], new byte[0]);

    FetchException e = assertThrows(FetchException.class, () -> downloader().fetch(source));

    assertEquals(3, source.opens.get("a.bin"));
    assertTrue(e.getMessage().contains("got 0 of 1000 bytes"), e.getMessage());
    assertTrue(e.getMessage().startsWith("downloading 'a.bin' failed 3 times"), e.getMessage());
    assertTrue(files(dir).isEmpty(), files(dir).keySet().toString());
  }

  @Test
  void retryableFailuresAreRetriedThenSucceed() throws IOException {
    byte[] a = randomBytes(1000, 3);
    FakeSource source =
        new FakeSource()
            .file("a.bin", a, a.length)
            .then(
                "a.bin", new FetchException("HTTP 503", true), new IOException("Connection reset"));

    downloader().fetch(source);

    assertEquals(3, source.opens.get("a.bin"));
    assertFiles(Map.of("a.bin", a), dir);
    assertTrue(
        log.toString().contains("attempt 1 of 3 failed: HTTP 503; retrying in"), log.toString());
    assertTrue(
        log.toString().contains("attempt 2 of 3 failed: Connection reset (IOException)"),
        log.toString());
  }

  @Test
  void fatalFailuresAreNotRetried() {
    FakeSource source =
        new FakeSource()
            .file("a.bin", new byte[1], 1)
            .then("a.bin", FetchException.fatal("access denied"));

    FetchException e = assertThrows(FetchException.class, () -> downloader().fetch(source));

    assertEquals("access denied", e.getMessage());
    assertEquals(1, source.opens.get("a.bin"));
  }

  @Test
  void moreBytesThanListedIsAnError() {
    FakeSource source = new FakeSource().file("a.bin", new byte[2000], 1000);

    FetchException e = assertThrows(FetchException.class, () -> downloader().fetch(source));

    assertTrue(e.getMessage().contains("more than the 1000 bytes expected"), e.getMessage());
    assertFalse(Files.exists(dir.resolve("a.bin")));
  }

  @Test
  void sizeAnnouncedByTheServerIsCheckedWhenTheListingHasNone() throws IOException {
    FakeSource source =
        new FakeSource() {
          @Override
          public Body open(RemoteFile file) {
            return new Body(new ByteArrayInputStream(new byte[10]), 20);
          }
        }.file("a.bin", new byte[10], RemoteFile.UNKNOWN_SIZE);

    FetchException e = assertThrows(FetchException.class, () -> downloader().fetch(source));

    assertTrue(e.getMessage().contains("got 10 of 20 bytes"), e.getMessage());
    assertTrue(files(dir).isEmpty());
  }

  @Test
  void duplicatePathsAreRejectedBeforeDownloading() {
    FakeSource source =
        new FakeSource().file("a.bin", new byte[1], 1).file("a.bin", new byte[1], 1);

    FetchException e = assertThrows(FetchException.class, () -> downloader().fetch(source));

    assertTrue(e.getMessage().contains("twice"), e.getMessage());
    assertTrue(source.opens.isEmpty());
  }

  @Test
  void aFileAndADirectoryOfTheSameNameAreRejectedBeforeDownloading() {
    FakeSource source = new FakeSource().file("a", new byte[1], 1).file("a/b", new byte[1], 1);

    FetchException e = assertThrows(FetchException.class, () -> downloader().fetch(source));

    assertEquals(
        "the listing has both 'a' and 'a/b': one path cannot be a file and a directory",
        e.getMessage());
    assertTrue(source.opens.isEmpty());
  }

  @Test
  void localWriteFailureSaysToCheckTheVolumeAndIsNotRetried() throws IOException {
    // "a" is a file already, so "a/b" cannot be created: a local failure that another try would not
    // fix.
    Files.writeString(dir.resolve("a"), "x");
    FakeSource source = new FakeSource().file("a/b", new byte[1], 1);

    FetchException e = assertThrows(FetchException.class, () -> downloader().fetch(source));

    assertTrue(e.getMessage().startsWith("cannot write 'a/b'"), e.getMessage());
    assertTrue(
        e.getMessage().endsWith("check the free space and permissions of the model volume"),
        e.getMessage());
    assertFalse(log.toString().contains("retrying"), log.toString());
  }

  @Test
  void notEnoughFreeSpaceFailsBeforeDownloading() {
    FakeSource source = new FakeSource().file("a.bin", new byte[3 << 20], 3 << 20);
    Downloader downloader = downloader();
    downloader.freeSpace = p -> 1 << 20;

    FetchException e = assertThrows(FetchException.class, () -> downloader.fetch(source));

    assertTrue(
        e.getMessage()
            .startsWith(
                "not enough space in "
                    + dir.toAbsolutePath().normalize()
                    + ": the model needs 3.0 MiB more, the volume has 1.0 MiB free"),
        e.getMessage());
    assertTrue(source.opens.isEmpty());
  }

  @Test
  void fullDiskIsSaidInOneLineAndLeavesNothing() throws IOException {
    Path full = Path.of("/dev/full");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isWritable(full), "needs Linux's /dev/full");
    // The temporary file points at /dev/full, where every write fails with ENOSPC.
    Files.createSymbolicLink(dir.resolve(".a.bin" + Downloader.TEMP_SUFFIX), full);
    FakeSource source = new FakeSource().file("a.bin", randomBytes(1000, 4), 1000);

    FetchException e = assertThrows(FetchException.class, () -> downloader().fetch(source));

    assertTrue(e.getMessage().startsWith("cannot write 'a.bin' at "), e.getMessage());
    assertTrue(
        e.getMessage().contains(": the model volume is full (No space left on device)"),
        e.getMessage());
    assertFalse(e.getMessage().contains("\n"));
    assertEquals(1, source.opens.get("a.bin"), "not retried");
    assertTrue(files(dir).isEmpty(), files(dir).keySet().toString());
    assertFalse(
        Files.exists(
            dir.resolve(".a.bin" + Downloader.TEMP_SUFFIX),
            java.nio.file.LinkOption.NOFOLLOW_LINKS));
  }

  @Test
  void diskFullAndQuotaMessagesAreRecognised() {
    for (String m : new String[] {"No space left on device", "Disk quota exceeded"}) {
      FetchException e =
          TempFile.failure("w.bin", Path.of("/models/.w.bin.partial"), new IOException(m));
      assertEquals(
          "cannot write 'w.bin' at /models/.w.bin.partial: the model volume is full ("
              + m
              + "): give it more space than the model's size",
          e.getMessage());
      assertFalse(e.retryable());
    }
  }
}
