package dev.warmstart.modelserver;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemLoopException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Loading a model directory the way a serving engine does, minus the GPU: every regular file under
 * it (symbolic links followed, as in a Hugging Face snapshot) is read completely and hashed with
 * SHA-256, so the page cache, the volume and the time it takes are real. A {@code checksums.sha256}
 * at the top (as {@code sha256sum} writes it) is verified: a listed file that differs or is missing
 * fails the load.
 */
final class ModelFiles {

  static final String CHECKSUMS = "checksums.sha256";
  static final long GIB = 1L << 30;
  private static final int BUFFER = 1 << 20;

  /** Why a model directory cannot be served. */
  static final class LoadException extends Exception {
    LoadException(String message) {
      super(message);
    }
  }

  /** A loaded directory: file count, bytes, and one digest over all files' digests and paths. */
  record Loaded(int files, long bytes, String digest, double seconds) {}

  private ModelFiles() {}

  /**
   * Reads and verifies {@code dir}. With {@code delayMsPerGib > 0} reading is slowed to at least
   * that many milliseconds per GiB read (a stand-in for copying weights to a GPU).
   */
  static Loaded load(Path dir, long delayMsPerGib) throws LoadException {
    long start = System.nanoTime();
    if (!Files.isDirectory(dir)) {
      throw new LoadException("model directory " + dir + " does not exist or is not a directory");
    }
    Map<String, Path> files = regularFiles(dir);
    if (files.isEmpty()) {
      throw new LoadException("model directory " + dir + " holds no files");
    }
    Map<String, String> expected =
        files.containsKey(CHECKSUMS) ? checksums(files.get(CHECKSUMS)) : Map.of();

    MessageDigest all = sha256();
    MessageDigest one = sha256();
    ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER);
    long bytes = 0;
    for (Map.Entry<String, Path> file : files.entrySet()) {
      one.reset();
      try (FileChannel in = FileChannel.open(file.getValue(), StandardOpenOption.READ)) {
        int n;
        while ((n = in.read(buffer.clear())) >= 0) {
          one.update(buffer.flip());
          bytes += n;
          throttle(start, bytes, delayMsPerGib);
        }
      } catch (IOException e) {
        throw new LoadException("cannot read " + file.getValue() + ": " + e);
      }
      String hex = HexFormat.of().formatHex(one.digest());
      String want = expected.get(file.getKey());
      if (want != null && !want.equalsIgnoreCase(hex)) {
        throw new LoadException(
            "checksum mismatch for "
                + file.getKey()
                + ": "
                + CHECKSUMS
                + " says "
                + want
                + ", the file has "
                + hex);
      }
      all.update((hex + "  " + file.getKey() + "\n").getBytes(StandardCharsets.UTF_8));
    }
    for (String listed : expected.keySet()) {
      if (!files.containsKey(listed)) {
        throw new LoadException(listed + " is listed in " + CHECKSUMS + " but missing from " + dir);
      }
    }
    return new Loaded(
        files.size(),
        bytes,
        HexFormat.of().formatHex(all.digest()),
        (System.nanoTime() - start) / 1e9);
  }

  /**
   * The model's id: config.json's {@code _name_or_path} when it names one, else the directory's
   * name.
   */
  static String modelId(Path dir) {
    Path config = dir.resolve("config.json");
    if (Files.isRegularFile(config)) {
      try {
        if (Json.parse(Files.readString(config)) instanceof Map<?, ?> map
            && map.get("_name_or_path") instanceof String name
            && !name.isBlank()) {
          return name;
        }
      } catch (IOException | Json.ParseException | UncheckedIOException e) {
        System.err.println("model-server: ignoring unreadable " + config + ": " + e.getMessage());
      }
    }
    Path name = dir.toAbsolutePath().normalize().getFileName();
    return name == null ? "model" : name.toString();
  }

  /** Regular files under {@code dir} by their relative path with '/' separators, sorted. */
  private static Map<String, Path> regularFiles(Path dir) throws LoadException {
    try (Stream<Path> walk = Files.walk(dir, FileVisitOption.FOLLOW_LINKS)) {
      List<Path> paths = walk.filter(Files::isRegularFile).collect(Collectors.toList());
      Map<String, Path> files = new TreeMap<>();
      for (Path p : paths) {
        StringBuilder rel = new StringBuilder();
        for (Path part : dir.relativize(p)) {
          rel.append(rel.length() == 0 ? "" : "/").append(part);
        }
        files.put(rel.toString(), p);
      }
      return files;
    } catch (IOException | UncheckedIOException e) {
      Throwable cause = e instanceof UncheckedIOException u ? u.getCause() : e;
      String why =
          cause instanceof FileSystemLoopException
              ? "a symbolic link loop at " + cause.getMessage()
              : cause instanceof NoSuchFileException
                  ? "a dangling entry " + cause.getMessage()
                  : cause.toString();
      throw new LoadException("cannot list model directory " + dir + ": " + why);
    }
  }

  /**
   * checksums.sha256 as sha256sum writes it: {@code <hex> <path>} or {@code <hex> *<path>} per
   * line.
   */
  static Map<String, String> checksums(Path file) throws LoadException {
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new LoadException("cannot read " + file + ": " + e);
    }
    Map<String, String> expected = new TreeMap<>();
    int number = 0;
    for (String line : lines) {
      number++;
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      boolean escaped = line.startsWith("\\");
      String rest = escaped ? line.substring(1) : line;
      int space = rest.indexOf(' ');
      if (space != 64
          || rest.length() < 67
          || !(rest.charAt(65) == ' ' || rest.charAt(65) == '*')
          || !rest.substring(0, 64).chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
        throw new LoadException(
            CHECKSUMS + " line " + number + " is not '<sha256 hex>  <path>': " + line);
      }
      String path = rest.substring(66);
      if (escaped) {
        path = unescape(path);
      }
      while (path.startsWith("./")) {
        path = path.substring(2);
      }
      expected.put(path, rest.substring(0, 64));
    }
    return expected;
  }

  /**
   * Undoes sha256sum's escaping of names: a backslash is written as two, a newline as backslash-n.
   */
  private static String unescape(String path) {
    StringBuilder b = new StringBuilder(path.length());
    for (int k = 0; k < path.length(); k++) {
      char c = path.charAt(k);
      if (c == '\\' && k + 1 < path.length()) {
        char e = path.charAt(++k);
        b.append(e == 'n' ? '\n' : e);
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  private static void throttle(long startNanos, long bytes, long delayMsPerGib) {
    if (delayMsPerGib <= 0) {
      return;
    }
    long dueNanos = startNanos + (long) ((double) bytes / GIB * delayMsPerGib * 1e6);
    long wait = dueNanos - System.nanoTime();
    if (wait > 0) {
      try {
        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
