package dev.warmstart.fetch.transfer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResumeStateTest {
  @TempDir Path dir;

  private Path temp(long size) throws IOException {
    Path temp = dir.resolve(".w.bin.partial");
    try (FileChannel ch =
        FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      ch.truncate(0);
      if (size > 0) {
        ch.write(java.nio.ByteBuffer.allocate(1), size - 1);
      }
    }
    return temp;
  }

  private static void checkpoint(ResumeState state, Path temp) throws IOException {
    try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
      state.checkpoint(ch);
    }
  }

  @Test
  void checkpointedPartsSurviveANewProcess() throws IOException {
    Path temp = temp(1000);
    ResumeState state = ResumeState.fresh(temp, 1000, 300, "\"etag\"");
    state.markDone(0);
    state.markDone(2);
    checkpoint(state, temp);

    ResumeState loaded = ResumeState.load(temp, 300);

    assertNotNull(loaded);
    assertTrue(loaded.matches(1000, "\"etag\""));
    assertFalse(loaded.matches(1000, "\"other\""));
    assertFalse(loaded.matches(1001, "\"etag\""));
    assertTrue(loaded.isDone(0) && !loaded.isDone(1) && loaded.isDone(2) && !loaded.isDone(3));
    assertEquals(1, loaded.firstMissing());
    assertEquals(600, loaded.doneBytes());
    assertFalse(Files.exists(dir.resolve(".w.bin.partial.state.new")), "written by rename");
  }

  @Test
  void partsDoneAfterTheLastCheckpointAreNotClaimed() throws IOException {
    Path temp = temp(1000);
    ResumeState state = ResumeState.fresh(temp, 1000, 300, "v");
    state.markDone(0);
    checkpoint(state, temp);
    state.markDone(1); // not yet made durable

    assertEquals(1, ResumeState.load(temp, 300).doneCount());
  }

  @Test
  void unusableStatesAreIgnored() throws IOException {
    Path temp = temp(1000);
    ResumeState state = ResumeState.fresh(temp, 1000, 300, "v");
    state.markDone(1);
    checkpoint(state, temp);

    assertNull(ResumeState.load(temp, 400), "another part size");
    temp(999);
    assertNull(ResumeState.load(temp, 300), "a temporary file of another size");
    temp(1000);
    Files.writeString(ResumeState.pathFor(temp), "{\"format\":1,\"si");
    assertNull(ResumeState.load(temp, 300), "cut short");
    Files.delete(temp);
    assertNull(ResumeState.load(temp, 300), "no temporary file");
  }

  @Test
  void withoutAnIdentityNothingIsWritten() throws IOException {
    Path temp = temp(1000);
    ResumeState state = ResumeState.fresh(temp, 1000, 300, null);
    state.markDone(0);
    checkpoint(state, temp);

    assertFalse(Files.exists(ResumeState.pathFor(temp)));
  }

  @Test
  void planCutsFilesIntoParts() {
    PartPlan plan = new PartPlan(1000, 300);
    assertEquals(4, plan.count());
    assertEquals(900, plan.offset(3));
    assertEquals(100, plan.length(3));
    assertEquals("bytes 900-999, part 4 of 4", plan.describe(3));
    assertEquals(0, new PartPlan(0, 300).count());
    assertEquals(1, new PartPlan(300, 300).count());
  }
}
