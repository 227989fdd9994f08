package dev.warmstart.fetch.transfer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.warmstart.fetch.Json;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Base64;
import java.util.BitSet;
import java.util.Objects;

/**
 * Which parts of a temporary file are complete, kept in a small sidecar file next to it ({@code
 * .name.partial.state}) so that a new process (the kubelet restarting fetch-model after a crash, an
 * OOM kill or a failed run) fetches only the missing parts. The state names the file's size and its
 * identity at the source (S3 ETag, HTTP validator, or SHA-256): when either changed, the file
 * starts over.
 *
 * <p>A part is recorded only after its bytes were forced to disk ({@link #checkpoint}), so the
 * state never claims a part that a power loss could have taken back.
 */
final class ResumeState {
  private static final int FORMAT = 1;

  private final Path path;
  private final long size;
  private final long partSize;
  private final String identity;
  private final BitSet done;
  private final BitSet recorded;

  private ResumeState(Path path, long size, long partSize, String identity, BitSet done) {
    this.path = path;
    this.size = size;
    this.partSize = partSize;
    this.identity = identity;
    this.done = done;
    this.recorded = (BitSet) done.clone();
  }

  static Path pathFor(Path temp) {
    return temp.resolveSibling(temp.getFileName() + ".state");
  }

  /**
   * A state with no part done yet. {@code identity} null: the file cannot be resumed, nothing is
   * written.
   */
  static ResumeState fresh(Path temp, long size, long partSize, String identity) {
    return new ResumeState(pathFor(temp), size, partSize, identity, new BitSet());
  }

  /**
   * The state a previous run left for {@code temp}, or null if there is none or it cannot be used:
   * unreadable, another part size, or a temporary file that is missing or not of the recorded size.
   */
  static ResumeState load(Path temp, long partSize) {
    Path path = pathFor(temp);
    try {
      JsonNode n = Json.MAPPER.readTree(Files.readAllBytes(path));
      if (n.path("format").asInt() != FORMAT || n.path("partSize").asLong() != partSize) {
        return null;
      }
      long size = n.path("size").asLong(-1);
      String identity = n.path("identity").asText(null);
      BitSet done = BitSet.valueOf(Base64.getDecoder().decode(n.path("done").asText("")));
      if (size < 0 || identity == null || !Files.isRegularFile(temp) || Files.size(temp) != size) {
        return null;
      }
      ResumeState state = new ResumeState(path, size, partSize, identity, done);
      return done.length() <= state.plan().count() ? state : null;
    } catch (NoSuchFileException e) {
      return null;
    } catch (IOException | IllegalArgumentException e) {
      return null; // damaged (e.g. a crash mid-write of an older format): start the file over
    }
  }

  /** Whether the file at the source is still the one this state describes. */
  boolean matches(long size, String identity) {
    return this.size == size && identity != null && identity.equals(this.identity);
  }

  boolean resumable() {
    return identity != null;
  }

  PartPlan plan() {
    return new PartPlan(size, partSize);
  }

  synchronized boolean isDone(int part) {
    return done.get(part);
  }

  synchronized void markDone(int part) {
    done.set(part);
  }

  synchronized int doneCount() {
    return done.cardinality();
  }

  /** The first part not done, or -1 when all are. */
  synchronized int firstMissing() {
    int p = done.nextClearBit(0);
    return p < plan().count() ? p : -1;
  }

  synchronized long doneBytes() {
    PartPlan plan = plan();
    long bytes = 0;
    for (int p = done.nextSetBit(0); p >= 0; p = done.nextSetBit(p + 1)) {
      bytes += plan.length(p);
    }
    return bytes;
  }

  /**
   * Records the parts done so far: forces {@code data} to disk first, then replaces the state file
   * atomically. A no-op when nothing new is done or the file is not resumable.
   */
  void checkpoint(FileChannel data) throws IOException {
    BitSet snapshot;
    synchronized (this) {
      if (!resumable() || done.equals(recorded)) {
        return;
      }
      snapshot = (BitSet) done.clone();
    }
    data.force(false);
    ObjectNode n =
        Json.MAPPER
            .createObjectNode()
            .put("format", FORMAT)
            .put("size", size)
            .put("partSize", partSize)
            .put("identity", identity)
            .put("done", Base64.getEncoder().encodeToString(snapshot.toByteArray()));
    Path next = path.resolveSibling(path.getFileName() + ".new");
    Files.write(next, Json.MAPPER.writeValueAsBytes(n));
    Files.move(next, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    synchronized (this) {
      recorded.or(snapshot);
    }
  }

  void delete() {
    try {
      Files.deleteIfExists(path);
    } catch (IOException ignored) {
      // a stale state is ignored next time: its temporary file is gone or of another size
    }
  }

  @Override
  public String toString() {
    return Objects.toString(path) + ": " + doneCount() + " of " + plan().count() + " parts";
  }
}
