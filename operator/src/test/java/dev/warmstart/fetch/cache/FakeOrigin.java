package dev.warmstart.fetch.cache;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A source in memory that counts its listings and downloads, and can be held or made to fail
 * mid-download.
 */
final class FakeOrigin implements Origin {
  final String identity;
  final boolean immutable;
  final Map<String, byte[]> files = new LinkedHashMap<>();
  final AtomicInteger lists = new AtomicInteger();
  final AtomicInteger downloads = new AtomicInteger();

  /** Counted down when a download starts. */
  final CountDownLatch started = new CountDownLatch(1);

  /** When set, a download waits for it before writing anything. */
  volatile CountDownLatch hold;

  /** When set, a download writes this many files and then throws this. */
  volatile IOException failure;

  volatile int failAfter;

  /** When set, only downloads into directories under it fail. */
  volatile Path failUnder;

  /** When set, the listing fails this many times with this. */
  volatile IOException listFailure;

  volatile int listFailures;

  FakeOrigin(String identity, boolean immutable) {
    this.identity = identity;
    this.immutable = immutable;
  }

  static FakeOrigin model(String identity, long seed, int... sizes) {
    FakeOrigin o = new FakeOrigin(identity, false);
    Random random = new Random(seed);
    for (int i = 0; i < sizes.length; i++) {
      byte[] b = new byte[sizes[i]];
      random.nextBytes(b);
      o.files.put(i == 0 ? "config.json" : "weights/model-" + i + ".safetensors", b);
    }
    return o;
  }

  @Override
  public String displayUri() {
    return identity;
  }

  @Override
  public String identity() {
    return identity;
  }

  @Override
  public boolean immutable() {
    return immutable;
  }

  @Override
  public List<Listed> list() throws IOException {
    lists.incrementAndGet();
    if (listFailure != null && listFailures > 0) {
      listFailures--;
      throw listFailure;
    }
    List<Listed> listed = new ArrayList<>();
    files.forEach(
        (path, bytes) ->
            listed.add(
                new Listed(
                    path,
                    bytes.length,
                    null,
                    "https://example.test/" + path + "?X-Amz-Signature=" + System.nanoTime())));
    return listed;
  }

  @Override
  public Fetched download(Path dir) throws IOException {
    downloads.incrementAndGet();
    started.countDown();
    CountDownLatch h = hold;
    if (h != null) {
      try {
        if (!h.await(30, TimeUnit.SECONDS)) {
          throw new IOException("test: held too long");
        }
      } catch (InterruptedException e) {
        throw new InterruptedIOException();
      }
    }
    boolean fail =
        failure != null && (failUnder == null || dir.toAbsolutePath().startsWith(failUnder));
    long bytes = 0;
    int n = 0;
    for (Map.Entry<String, byte[]> f : files.entrySet()) {
      if (fail && n == failAfter) {
        throw failure;
      }
      Path target = dir.resolve(f.getKey());
      Files.createDirectories(target.getParent());
      Path temp = target.resolveSibling("." + target.getFileName() + ".partial");
      Files.write(temp, f.getValue());
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      bytes += f.getValue().length;
      n++;
    }
    if (fail) {
      throw failure;
    }
    return new Fetched(bytes, n);
  }

  long size() {
    return files.values().stream().mapToLong(b -> b.length).sum();
  }
}
