package dev.warmstart.fetch.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.warmstart.fetch.FetchException;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelCacheTest {
  @TempDir Path tmp;

  final List<String> log = Collections.synchronizedList(new ArrayList<>());
  final ExecutorService threads = Executors.newCachedThreadPool();

  @AfterEach
  void stopThreads() {
    threads.shutdownNow();
  }

  ModelCache cache(long maxBytes) {
    ModelCache cache =
        new ModelCache(
            tmp.resolve("cache"),
            maxBytes,
            (format, args) -> {
              String line = String.format(java.util.Locale.ROOT, format, args);
              log.add(line);
            });
    cache.listBackoff = Duration.ofMillis(10);
    return cache;
  }

  Path target(String name) {
    return tmp.resolve("pods").resolve(name).resolve("model");
  }

  static Map<String, byte[]> files(Path dir) throws IOException {
    Map<String, byte[]> files = new TreeMap<>();
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) walk.filter(Files::isRegularFile)::iterator) {
        files.put(dir.relativize(p).toString(), Files.readAllBytes(p));
      }
    }
    return files;
  }

  static void assertModel(FakeOrigin origin, Path dir) throws IOException {
    Map<String, byte[]> actual = files(dir);
    assertEquals(new TreeMap<>(origin.files).keySet(), actual.keySet(), "files under " + dir);
    origin.files.forEach((path, bytes) -> assertArrayEquals(bytes, actual.get(path), path));
  }

  List<Path> entries() throws IOException {
    try (Stream<Path> list = Files.list(tmp.resolve("cache"))) {
      return list.filter(p -> CacheKey.isKey(p.getFileName().toString())).sorted().toList();
    }
  }

  Path entryOf(FakeOrigin origin) throws IOException {
    String key = CacheKey.key(origin.identity, origin.immutable ? null : origin.list());
    origin.lists.decrementAndGet();
    return tmp.resolve("cache").resolve(key);
  }

  // ---------------------------------------------------------------- hits

  @Test
  void secondFetchIsAHitWithoutTouchingTheSource() throws IOException {
    FakeOrigin origin =
        FakeOrigin.model("s3://models/qwen/\nendpoint=aws", 1, 300, 200_000, 150_000);
    ModelCache cache = cache(1 << 30);

    ModelCache.Result first = cache.fetch(origin, target("a"));
    ModelCache.Result second = cache.fetch(origin, target("b"));

    assertFalse(first.hit());
    assertTrue(second.hit());
    assertEquals(1, origin.downloads.get(), "downloaded once");
    assertEquals(2, origin.lists.get(), "a mutable source is listed each time, to notice changes");
    assertModel(origin, target("a"));
    assertModel(origin, target("b"));
    assertEquals(origin.size(), second.bytes());
    assertEquals(3, second.files());
    assertEquals(1, entries().size());
    assertTrue(Files.exists(entries().get(0).resolve(Manifest.NAME)), "the entry is complete");
  }

  @Test
  void sameFilesystemGetsHardLinksThatSurviveEviction() throws IOException {
    FakeOrigin origin = FakeOrigin.model("hf://org/m@main", 2, 1000, 5000);
    ModelCache cache = cache(1 << 30);
    cache.fetch(origin, target("a"));

    ModelCache.Result hit = cache.fetch(origin, target("b"));

    assertEquals("link", hit.via());
    Path cached = entries().get(0).resolve(ModelCache.FILES).resolve("weights/model-1.safetensors");
    Path placed = target("b").resolve("weights/model-1.safetensors");
    assertTrue(Files.isSameFile(cached, placed), "a hard link, not a copy");
    assertEquals(3, Files.getAttribute(cached, "unix:nlink"), "the cache's name and both pods'");
    // Evicting the entry only removes the cache's name: the pods keep their data.
    cache.evict(0, "none");
    assertTrue(entries().isEmpty());
    assertModel(origin, target("b"));
  }

  @Test
  void copiesWhenTheTargetIsOnAnotherFilesystem() throws IOException {
    Path shm = Path.of("/dev/shm");
    assumeTrue(Files.isDirectory(shm) && Files.isWritable(shm), "needs /dev/shm");
    assumeTrue(
        !Files.getFileStore(shm).equals(Files.getFileStore(tmp)), "needs another filesystem");
    Path other = Files.createTempDirectory(shm, "warmstart-cache-test");
    try {
      FakeOrigin origin = FakeOrigin.model("hf://org/m@main", 3, 1000, 300_000, 200_000, 100_000);
      ModelCache cache = cache(1 << 30);
      cache.fetch(origin, target("a"));

      ModelCache.Result hit = cache.fetch(origin, other.resolve("model"));

      assertTrue(hit.hit());
      assertEquals("copy", hit.via());
      assertModel(origin, other.resolve("model"));
      assertTrue(
          log.stream().anyMatch(l -> l.contains("hard links") && l.contains("copying")),
          log::toString);
      try (Stream<Path> walk = Files.walk(other)) {
        assertTrue(walk.noneMatch(p -> p.getFileName().toString().endsWith(".cache-partial")));
      }
    } finally {
      SafePaths.deleteTree(other);
    }
  }

  @Test
  void pinnedCommitIsAHitWithoutAnyRequest() throws IOException {
    FakeOrigin origin =
        FakeOrigin.model("hf://org/m@0123456789abcdef0123456789abcdef01234567", 4, 100, 1000);
    FakeOrigin pinned = new FakeOrigin(origin.identity, true);
    pinned.files.putAll(origin.files);
    ModelCache cache = cache(1 << 30);

    cache.fetch(pinned, target("a"));
    assertEquals(1, pinned.lists.get(), "listed once, for the manifest");
    ModelCache.Result hit = cache.fetch(pinned, target("b"));

    assertTrue(hit.hit());
    assertEquals(1, pinned.lists.get(), "a pinned commit cannot change: no listing on a hit");
    assertEquals(1, pinned.downloads.get());
    assertModel(pinned, target("b"));
  }

  @Test
  void differentRevisionsAreDifferentEntries() throws IOException {
    ModelCache cache = cache(1 << 30);
    FakeOrigin v1 = FakeOrigin.model("hf://org/m@v1", 5, 100, 1000);
    FakeOrigin v2 = FakeOrigin.model("hf://org/m@v2", 5, 100, 1000);

    cache.fetch(v1, target("a"));
    cache.fetch(v2, target("b"));

    assertEquals(1, v1.downloads.get());
    assertEquals(1, v2.downloads.get(), "same files, other revision: another entry");
    assertEquals(2, entries().size());
  }

  @Test
  void aChangedListingUnderTheSameUriIsANewEntry() throws IOException {
    ModelCache cache = cache(1 << 30);
    FakeOrigin before = FakeOrigin.model("s3://models/m/\nendpoint=aws", 6, 100, 1000);
    cache.fetch(before, target("a"));
    FakeOrigin after =
        FakeOrigin.model("s3://models/m/\nendpoint=aws", 7, 100, 1001); // re-uploaded

    ModelCache.Result result = cache.fetch(after, target("b"));

    assertFalse(result.hit(), "the bucket changed: not the cached model");
    assertEquals(1, after.downloads.get());
    assertModel(after, target("b"));
    assertEquals(2, entries().size());
  }

  // ---------------------------------------------------------------- concurrency

  @Test
  void concurrentFetchesOfOneModelDownloadOnce() throws Exception {
    FakeOrigin origin = FakeOrigin.model("s3://models/big/\nendpoint=aws", 8, 100, 500_000);
    origin.hold = new CountDownLatch(1);
    ModelCache cache = cache(1 << 30);

    Future<ModelCache.Result> first = threads.submit(() -> cache.fetch(origin, target("a")));
    assertTrue(origin.started.await(10, TimeUnit.SECONDS), "the first fetch downloads");
    Future<ModelCache.Result> second = threads.submit(() -> cache.fetch(origin, target("b")));
    awaitLog("waiting for it");
    origin.hold.countDown();

    ModelCache.Result a = first.get(30, TimeUnit.SECONDS);
    ModelCache.Result b = second.get(30, TimeUnit.SECONDS);
    assertEquals(
        1, origin.downloads.get(), "the second fetch waited and used the first one's download");
    assertFalse(a.hit());
    assertTrue(b.hit());
    assertModel(origin, target("a"));
    assertModel(origin, target("b"));
  }

  @Test
  void hitsDoNotWaitForEachOther() throws Exception {
    FakeOrigin origin = FakeOrigin.model("s3://models/m/\nendpoint=aws", 9, 100, 1000);
    ModelCache cache = cache(1 << 30);
    cache.fetch(origin, target("warm"));
    Path lock = tmp.resolve("cache").resolve(entryOf(origin).getFileName() + ".lock");

    // Another reader holds the entry (shared): a hit still goes through.
    try (EntryLock reader = EntryLock.shared(lock, null)) {
      ModelCache.Result hit =
          threads.submit(() -> cache.fetch(origin, target("a"))).get(10, TimeUnit.SECONDS);
      assertTrue(hit.hit());
    }
    assertTrue(log.stream().noneMatch(l -> l.contains("waiting")), log::toString);
  }

  // ---------------------------------------------------------------- eviction

  @Test
  void evictsTheLeastRecentlyUsedEntriesToFit() throws IOException {
    FakeOrigin a = FakeOrigin.model("hf://org/a@main", 10, 100_000);
    FakeOrigin b = FakeOrigin.model("hf://org/b@main", 11, 100_000);
    FakeOrigin c = FakeOrigin.model("hf://org/c@main", 12, 100_000);
    ModelCache cache = cache(250_000);
    cache.fetch(a, target("a"));
    cache.fetch(b, target("b"));
    lastUsed(a, Instant.now().minusSeconds(60));
    lastUsed(b, Instant.now().minusSeconds(3600)); // b is older than a now
    cache.fetch(a, target("a2")); // a hit makes a the most recent

    cache.fetch(c, target("c"));

    assertFalse(Files.exists(entryOf(b)), "b was used least recently");
    assertTrue(Files.exists(entryOf(a)));
    assertTrue(Files.exists(entryOf(c)));
    assertTrue(SafePaths.size(tmp.resolve("cache")) <= 250_000);
    assertModel(b, target("b")); // its pod keeps its files
    cache.fetch(b, target("b2"));
    assertEquals(2, b.downloads.get(), "evicted: downloaded again");
  }

  @Test
  void neverEvictsAnEntryInUseNorTheCurrentOne() throws Exception {
    FakeOrigin a = FakeOrigin.model("hf://org/a@main", 13, 100_000);
    FakeOrigin b = FakeOrigin.model("hf://org/b@main", 14, 100_000);
    ModelCache cache = cache(150_000);
    cache.fetch(a, target("a"));
    lastUsed(a, Instant.now().minusSeconds(3600));
    Path lockOfA = tmp.resolve("cache").resolve(entryOf(a).getFileName() + ".lock");

    // a is being read by another fetch (shared lock, held by another thread): b must not evict it.
    CountDownLatch holding = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    Future<?> reader =
        threads.submit(
            () -> {
              try (EntryLock l = EntryLock.shared(lockOfA, null)) {
                holding.countDown();
                release.await();
              }
              return null;
            });
    assertTrue(holding.await(10, TimeUnit.SECONDS));
    ModelCache.Result result = cache.fetch(b, target("b"));
    release.countDown();
    reader.get(10, TimeUnit.SECONDS);

    assertFalse(result.hit());
    assertTrue(
        Files.exists(entryOf(a).resolve(Manifest.NAME)),
        "in use: kept although least recently used");
    assertTrue(
        Files.exists(entryOf(b).resolve(Manifest.NAME)), "the current entry is never evicted");
    assertTrue(log.stream().anyMatch(l -> l.contains("over its limit")), log::toString);

    // Once nobody reads a, the next eviction takes it.
    cache.evict(150_000, "none");
    assertFalse(Files.exists(entryOf(a)));
    assertTrue(Files.exists(entryOf(b)));
  }

  @Test
  void evictionRemovesCrashedDownloadsAndLeftoversButNothingElse() throws IOException {
    ModelCache cache = cache(1 << 30);
    Path root = tmp.resolve("cache");
    Files.createDirectories(root);
    String key = "a".repeat(64);
    Files.createDirectories(root.resolve(key).resolve(ModelCache.FILES));
    Files.write(root.resolve(key).resolve(ModelCache.FILES).resolve(".x.partial"), new byte[1000]);
    Path trash = root.resolve(ModelCache.TRASH_PREFIX + "b".repeat(64) + "-1");
    Files.createDirectories(trash.resolve("files"));
    Files.write(trash.resolve("files/w"), new byte[10]);
    Path foreign = root.resolve("lost+found");
    Files.createDirectories(foreign);
    Files.write(root.resolve("README"), new byte[5000]);

    cache.evict(0, "none");

    assertFalse(Files.exists(root.resolve(key)), "an incomplete entry nobody holds is garbage");
    assertFalse(Files.exists(trash), "left by a crashed eviction");
    assertTrue(Files.exists(foreign), "not the cache's");
    assertTrue(Files.exists(root.resolve("README")), "not the cache's");
  }

  @Test
  void aModelLargerThanTheCacheIsDownloadedDirectly() throws IOException {
    FakeOrigin origin = FakeOrigin.model("hf://org/huge@main", 15, 100_000);
    ModelCache cache = cache(50_000);

    ModelCache.Result result = cache.fetch(origin, target("a"));

    assertEquals("direct", result.via());
    assertModel(origin, target("a"));
    assertTrue(entries().isEmpty());
  }

  // ---------------------------------------------------------------- robustness

  @Test
  void aDownloadThatDiedIsDownloadedAgain() throws IOException {
    FakeOrigin origin = FakeOrigin.model("hf://org/m@main", 16, 100, 200_000, 200_000);
    origin.failure = new IOException("connection reset");
    origin.failAfter = 1;
    ModelCache cache = cache(1 << 30);

    IOException e = assertThrows(IOException.class, () -> cache.fetch(origin, target("a")));
    assertEquals("connection reset", e.getMessage(), "the source's failure, as it is");
    assertEquals(
        1, origin.downloads.get(), "a failing source is not tried again without the cache");
    Path entry = entryOf(origin);
    assertTrue(
        Files.exists(entry.resolve(ModelCache.FILES).resolve("config.json")), "partly downloaded");
    assertFalse(Files.exists(entry.resolve(Manifest.NAME)), "not marked complete");

    origin.failure = null;
    ModelCache.Result result = cache.fetch(origin, target("b"));

    assertFalse(result.hit(), "an incomplete entry is no hit");
    assertEquals(2, origin.downloads.get());
    assertModel(origin, target("b"));
    assertTrue(Files.exists(entry.resolve(Manifest.NAME)));
  }

  @Test
  void aProcessKilledMidDownloadLeavesNoCompleteEntry() throws IOException {
    FakeOrigin origin = FakeOrigin.model("hf://org/m@main", 17, 100, 200_000);
    ModelCache cache = cache(1 << 30);
    // What a SIGKILL leaves: some files and a temporary file, no manifest (and the kernel dropped
    // the lock).
    Path files = entryOf(origin).resolve(ModelCache.FILES);
    Files.createDirectories(files.resolve("weights"));
    Files.write(files.resolve("config.json"), origin.files.get("config.json"));
    Files.write(files.resolve("weights/.model-1.safetensors.partial"), new byte[1234]);

    ModelCache.Result result = cache.fetch(origin, target("a"));

    assertFalse(result.hit());
    assertEquals(1, origin.downloads.get());
    assertModel(origin, target("a"));
    assertEquals(files(files).keySet(), new TreeMap<>(origin.files).keySet(), "leftovers dropped");
    assertTrue(cache.fetch(origin, target("b")).hit());
  }

  @Test
  void aDamagedEntryIsDiscardedAndDownloadedAgain() throws IOException {
    FakeOrigin origin = FakeOrigin.model("hf://org/m@main", 18, 100, 200_000);
    ModelCache cache = cache(1 << 30);
    cache.fetch(origin, target("a"));
    Path entry = entryOf(origin);

    Files.writeString(entry.resolve(Manifest.NAME), "{\"format\":1,\"compl");
    ModelCache.Result corruptManifest = cache.fetch(origin, target("b"));
    assertFalse(corruptManifest.hit());
    assertEquals(2, origin.downloads.get());
    assertModel(origin, target("b"));
    assertTrue(log.stream().anyMatch(l -> l.contains("damaged")), log::toString);

    Files.write(
        entry.resolve(ModelCache.FILES).resolve("weights/model-1.safetensors"), new byte[10]);
    ModelCache.Result truncatedFile = cache.fetch(origin, target("c"));
    assertFalse(truncatedFile.hit());
    assertEquals(3, origin.downloads.get());
    assertModel(origin, target("c"));

    Files.delete(entry.resolve(ModelCache.FILES).resolve("config.json"));
    assertFalse(cache.fetch(origin, target("d")).hit());
    assertModel(origin, target("d"));
    assertTrue(cache.fetch(origin, target("e")).hit());
  }

  @Test
  void anUnusableCacheDirectoryMeansADirectDownload() throws IOException {
    Files.writeString(tmp.resolve("cache"), "not a directory");
    FakeOrigin origin = FakeOrigin.model("hf://org/m@main", 19, 100, 1000);

    ModelCache.Result result = cache(1 << 30).fetch(origin, target("a"));

    assertEquals("direct", result.via());
    assertModel(origin, target("a"));
    assertTrue(
        log.stream().anyMatch(l -> l.contains("is not usable") && l.contains("without the cache")),
        log::toString);
  }

  @Test
  void aLocalFailureInTheCacheMeansADirectDownload() throws IOException {
    FakeOrigin origin = FakeOrigin.model("hf://org/m@main", 20, 100, 200_000);
    origin.failure =
        new FetchException(
            "cannot write 'weights/model-1.safetensors': No space left on device",
            false,
            new IOException("No space left on device"));
    origin.failAfter = 1;
    origin.failUnder = tmp.resolve("cache");

    ModelCache.Result result = cache(1 << 30).fetch(origin, target("a"));

    assertEquals("direct", result.via());
    assertEquals(2, origin.downloads.get());
    assertModel(origin, target("a"));
    assertTrue(
        log.stream().anyMatch(l -> l.contains("No space left") && l.contains("without the cache")),
        log::toString);
  }

  @Test
  void aFileSystemErrorCountsAsLocal() {
    assertTrue(ModelCache.isLocal(new FetchException("x", false, new FileSystemException("/c/x"))));
    assertTrue(ModelCache.isLocal(new IOException("write failed: Read-only file system")));
    assertFalse(ModelCache.isLocal(FetchException.fatal("access denied (HTTP 403)")));
    assertFalse(ModelCache.isLocal(new IOException("connection reset")));
  }

  @Test
  void theListingIsRetriedUnlessTheFailureIsFinal() throws IOException {
    FakeOrigin flaky = FakeOrigin.model("s3://models/m/\nendpoint=aws", 21, 100);
    flaky.listFailure = new IOException("HTTP 503");
    flaky.listFailures = 2;
    assertFalse(cache(1 << 30).fetch(flaky, target("a")).hit());
    assertEquals(3, flaky.lists.get());

    FakeOrigin denied = FakeOrigin.model("s3://models/n/\nendpoint=aws", 22, 100);
    denied.listFailure = FetchException.fatal("access denied");
    denied.listFailures = 5;
    IOException e =
        assertThrows(IOException.class, () -> cache(1 << 30).fetch(denied, target("b")));
    assertSame(denied.listFailure, e);
    assertEquals(1, denied.lists.get());
    assertEquals(0, denied.downloads.get());
  }

  @Test
  void placementReplacesWhatAnEarlierRunLeftInTheTarget() throws IOException {
    FakeOrigin origin = FakeOrigin.model("hf://org/m@main", 23, 100, 1000);
    ModelCache cache = cache(1 << 30);
    cache.fetch(origin, target("a"));
    Files.createDirectories(target("b").resolve("weights"));
    Files.write(target("b").resolve("weights/model-1.safetensors"), new byte[3]);

    assertTrue(cache.fetch(origin, target("b")).hit());
    assertModel(origin, target("b"));
  }

  @Test
  void manifestListsTheFilesAndTheSource() throws IOException {
    FakeOrigin origin = FakeOrigin.model("hf://org/m@main", 24, 100, 1000);
    cache(1 << 30).fetch(origin, target("a"));
    Path entry = entryOf(origin);

    Manifest m = Manifest.read(entry, entry.getFileName().toString());

    assertEquals("hf://org/m@main", m.source());
    assertEquals(1100, m.bytes());
    assertEquals(
        List.of(
            new Manifest.FileEntry("config.json", 100),
            new Manifest.FileEntry("weights/model-1.safetensors", 1000)),
        m.files());
    assertThrows(
        Manifest.CorruptException.class,
        () -> Manifest.read(entry, "0".repeat(64)),
        "a manifest for another key");
    assertNotEquals(null, m.completedAt());
  }

  // ---------------------------------------------------------------- helpers

  private void lastUsed(FakeOrigin origin, Instant when) throws IOException {
    Files.setLastModifiedTime(entryOf(origin).resolve(Manifest.NAME), FileTime.from(when));
  }

  private void awaitLog(String text) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (log.stream().noneMatch(l -> l.contains(text))) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("no log line with '" + text + "' in " + log);
      }
      Thread.sleep(5);
    }
  }
}
