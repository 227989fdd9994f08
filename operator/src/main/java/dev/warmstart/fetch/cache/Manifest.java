package dev.warmstart.fetch.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.warmstart.fetch.Json;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code DIR/<key>/manifest.json}, the entry's completion marker: it is written, fsynced and
 * renamed into place only after every file of the model is in the entry, and never changed
 * afterwards. Its modification time is the entry's last use, which the least-recently-used eviction
 * orders by.
 *
 * <pre>{"format":1,"key":"...","source":"hf://org/model@main","complete":true,"completedAt":"...",
 *  "bytes":N,"files":[{"path":"config.json","size":N},...]}</pre>
 */
record Manifest(String key, String source, Instant completedAt, long bytes, List<FileEntry> files) {
  static final String NAME = "manifest.json";
  private static final int FORMAT = 1;

  record FileEntry(String path, long size) {}

  /** Thrown for a manifest that is there but unusable: the entry is discarded. */
  static final class CorruptException extends IOException {
    private static final long serialVersionUID = 1L;

    CorruptException(String message) {
      super(message);
    }
  }

  /** The complete manifest in {@code entry}, or null if the entry is not complete (no manifest). */
  static Manifest read(Path entry, String expectedKey) throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(entry.resolve(NAME));
    } catch (NoSuchFileException e) {
      return null;
    }
    JsonNode n;
    try {
      n = Json.MAPPER.readTree(bytes);
    } catch (IOException e) {
      throw new CorruptException("manifest is not valid JSON");
    }
    if (n == null
        || !n.isObject()
        || n.path("format").asInt(-1) != FORMAT
        || !n.path("complete").asBoolean(false)
        || !expectedKey.equals(n.path("key").asText())
        || !n.path("files").isArray()
        || n.path("files").isEmpty()) {
      throw new CorruptException("manifest has an unknown format, another key or no files");
    }
    List<FileEntry> files = new ArrayList<>();
    long total = 0;
    for (JsonNode f : n.path("files")) {
      String path = f.path("path").asText("");
      long size = f.path("size").asLong(-1);
      if (!SafePaths.valid(path) || size < 0) {
        throw new CorruptException("manifest lists an invalid file");
      }
      files.add(new FileEntry(path, size));
      total += size;
    }
    Instant completed;
    try {
      completed = Instant.parse(n.path("completedAt").asText());
    } catch (RuntimeException e) {
      throw new CorruptException("manifest has no completion time");
    }
    return new Manifest(
        expectedKey, n.path("source").asText(""), completed, total, List.copyOf(files));
  }

  /**
   * Writes this manifest into {@code entry} durably (temporary file, fsync, rename, fsync of the
   * directory).
   */
  void write(Path entry) throws IOException {
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("format", FORMAT);
    n.put("key", key);
    n.put("source", source);
    n.put("complete", true);
    n.put("completedAt", completedAt.toString());
    n.put("bytes", bytes);
    ArrayNode list = n.putArray("files");
    for (FileEntry f : files) {
      list.addObject().put("path", f.path()).put("size", f.size());
    }
    Path temp = entry.resolve("." + NAME + ".tmp");
    try (FileChannel ch =
        FileChannel.open(
            temp,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      ByteBuffer buffer = ByteBuffer.wrap(Json.MAPPER.writeValueAsBytes(n));
      while (buffer.hasRemaining()) {
        ch.write(buffer);
      }
      ch.force(true);
    }
    Files.move(
        temp,
        entry.resolve(NAME),
        StandardCopyOption.ATOMIC_MOVE,
        StandardCopyOption.REPLACE_EXISTING);
    SafePaths.fsyncDirectory(entry);
  }
}
