package dev.warmstart.pause;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.warmstart.pause.PauseBinary.Arch;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class PauseBinaryTest {

  private static final String MODE_0555 = "r-xr-xr-x";
  private static final long ALIVE_MILLIS = 300;
  private static final long EXIT_SECONDS = 5;

  @TempDir Path dir;

  @Test
  @EnabledOnOs(OS.LINUX)
  void installWritesSmallExecutableWithMode0555() throws IOException {
    Path target = dir.resolve("pause");
    PauseBinary.install(target, Arch.X86_64);

    assertTrue(Files.isExecutable(target), "executable");
    assertEquals(MODE_0555, PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
    assertTrue(Files.size(target) < 512, "size " + Files.size(target) + " < 512");
    assertArrayEquals(PauseBinary.elf(Arch.X86_64), Files.readAllBytes(target));
  }

  @Test
  @EnabledOnOs(OS.LINUX)
  void installReplacesReadOnlyPreviousCopy() throws IOException {
    Path target = dir.resolve("pause");
    Files.writeString(target, "an older, read-only copy");
    Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("r--r--r--"));

    PauseBinary.install(target, Arch.ARM64);
    PauseBinary.install(target, Arch.X86_64);

    assertArrayEquals(PauseBinary.elf(Arch.X86_64), Files.readAllBytes(target));
    assertEquals(MODE_0555, PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(List.of(target), files.toList(), "no temporary files left behind");
    }
  }

  @Test
  void x86_64Header() {
    assertStaticElf(PauseBinary.elf(Arch.X86_64), PauseBinary.EM_X86_64);
  }

  @Test
  void arm64Header() {
    assertStaticElf(PauseBinary.elf(Arch.ARM64), PauseBinary.EM_AARCH64);
  }

  @Test
  void signalMaskIsHupIntTerm() {
    for (Arch arch : Arch.values()) {
      byte[] elf = PauseBinary.elf(arch);
      ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
      assertEquals(0, (elf.length - 8) % 8, arch + ": mask is 8-byte aligned");
      assertEquals((1L << 0) | (1L << 1) | (1L << 14), b.getLong(elf.length - 8), arch + ": mask");
    }
  }

  @Test
  @EnabledOnOs(OS.LINUX)
  void x86_64RunsUntilSignalledThenExitsZero() throws Exception {
    assertRunsUntilSignalled(Arch.X86_64);
  }

  @Test
  @EnabledOnOs(OS.LINUX)
  void arm64RunsUntilSignalledThenExitsZero() throws Exception {
    assertRunsUntilSignalled(Arch.ARM64);
  }

  @Test
  void fromOsArchMapsJvmAndKubernetesNames() {
    assertEquals(Arch.X86_64, Arch.fromOsArch("amd64"));
    assertEquals(Arch.X86_64, Arch.fromOsArch("x86_64"));
    assertEquals(Arch.ARM64, Arch.fromOsArch("aarch64"));
    assertEquals(Arch.ARM64, Arch.fromOsArch("arm64"));
  }

  @Test
  void fromOsArchRejectsUnsupportedArch() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Arch.fromOsArch("s390x"));
    assertTrue(e.getMessage().contains("s390x"), e.getMessage());
    assertTrue(e.getMessage().contains("amd64"), e.getMessage());
    assertTrue(e.getMessage().contains("arm64"), e.getMessage());
  }

  @Test
  @EnabledOnOs(OS.LINUX)
  void installPauseCommandWritesTargetAndRejectsUnknownArch() throws IOException {
    Path target = dir.resolve("warmstart/pause");
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd =
        new CommandLine(new InstallPauseCommand())
            .setOut(new PrintWriter(out))
            .setErr(new PrintWriter(err));

    assertEquals(0, cmd.execute("--arch", "aarch64", target.toString()));
    assertArrayEquals(PauseBinary.elf(Arch.ARM64), Files.readAllBytes(target));
    assertTrue(out.toString().contains(target.toString()), out.toString());

    assertEquals(2, cmd.execute("--arch", "s390x", target.toString()));
    assertTrue(err.toString().contains("amd64"), err.toString());
  }

  /**
   * ELF64 little-endian ET_EXEC with no interpreter and the entry point in an executable PT_LOAD.
   */
  private static void assertStaticElf(byte[] elf, short machine) {
    ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
    assertTrue(elf.length < 512, "size " + elf.length);
    assertArrayEquals(
        new byte[] {0x7f, 'E', 'L', 'F'}, new byte[] {elf[0], elf[1], elf[2], elf[3]}, "magic");
    assertEquals(2, elf[4], "EI_CLASS = ELFCLASS64");
    assertEquals(1, elf[5], "EI_DATA = ELFDATA2LSB");
    assertEquals(1, elf[6], "EI_VERSION");
    assertEquals(2, b.getShort(16), "e_type = ET_EXEC");
    assertEquals(machine, b.getShort(18), "e_machine");
    long entry = b.getLong(24);
    long phoff = b.getLong(32);
    assertEquals(56, b.getShort(54), "e_phentsize");
    int phnum = b.getShort(56);
    assertTrue(phnum >= 1, "e_phnum");

    boolean entryMapped = false;
    for (int i = 0; i < phnum; i++) {
      int ph = (int) phoff + i * 56;
      int type = b.getInt(ph);
      assertFalse(type == 3, "PT_INTERP present");
      assertFalse(type == 2, "PT_DYNAMIC present");
      if (type == 1) {
        int flags = b.getInt(ph + 4);
        long offset = b.getLong(ph + 8);
        long vaddr = b.getLong(ph + 16);
        long filesz = b.getLong(ph + 32);
        long memsz = b.getLong(ph + 40);
        assertTrue(offset + filesz <= elf.length, "PT_LOAD within the file");
        assertTrue(memsz >= filesz, "p_memsz >= p_filesz");
        if (entry >= vaddr && entry < vaddr + filesz) {
          assertTrue((flags & 1) != 0, "entry segment is executable");
          entryMapped = true;
        }
      }
    }
    assertTrue(
        entryMapped, "entry point 0x" + Long.toHexString(entry) + " inside a PT_LOAD segment");
  }

  /**
   * Starts four copies, checks they stay up, then: SIGTERM (Process.destroy), SIGINT and SIGHUP
   * must each end one with exit code 0; SIGSTOP + SIGCONT (which make rt_sigtimedwait return
   * -EINTR) must not end the fourth, which then exits 0 on SIGTERM. Under qemu-user the signals go
   * to the qemu process, which forwards them to the guest.
   */
  private void assertRunsUntilSignalled(Arch arch) throws Exception {
    List<String> launcher = launcher(arch);
    Path binary = dir.resolve("pause");
    PauseBinary.install(binary, arch);
    List<String> command = new ArrayList<>(launcher);
    command.add(binary.toString());

    List<Process> processes = new ArrayList<>();
    try {
      Process term = start(command, processes);
      Process intr = start(command, processes);
      Process hup = start(command, processes);
      Process stopped = start(command, processes);

      Thread.sleep(ALIVE_MILLIS);
      assertAll(
          "still running after " + ALIVE_MILLIS + " ms (" + command + ")",
          processes.stream()
              .<Executable>map(p -> () -> assertTrue(p.isAlive(), () -> "exited: " + describe(p))));

      kill("-STOP", stopped);
      awaitState(stopped, 'T');
      kill("-CONT", stopped);

      term.destroy();
      kill("-INT", intr);
      kill("-HUP", hup);
      assertAll(
          "exit code 0 after the signal (" + command + ")",
          exitsZero("SIGTERM", term),
          exitsZero("SIGINT", intr),
          exitsZero("SIGHUP", hup));

      assertTrue(stopped.isAlive(), () -> "exited after SIGSTOP/SIGCONT: " + describe(stopped));
      stopped.destroy();
      assertAll(exitsZero("SIGTERM after SIGSTOP/SIGCONT", stopped));
    } finally {
      processes.forEach(Process::destroyForcibly);
    }
  }

  private static Process start(List<String> command, List<Process> started) throws IOException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    started.add(p);
    return p;
  }

  private static Executable exitsZero(String signal, Process p) {
    return () -> {
      assertTrue(
          p.waitFor(EXIT_SECONDS, TimeUnit.SECONDS),
          signal + ": still running after " + EXIT_SECONDS + " s");
      assertEquals(0, p.exitValue(), () -> signal + ": " + describe(p));
    };
  }

  private static void kill(String signal, Process p) throws IOException, InterruptedException {
    Process kill = new ProcessBuilder("kill", signal, Long.toString(p.pid())).inheritIO().start();
    assertTrue(kill.waitFor(EXIT_SECONDS, TimeUnit.SECONDS), "kill " + signal);
    assertEquals(0, kill.exitValue(), "kill " + signal + " " + p.pid());
  }

  /** Waits for the state letter in /proc/PID/stat (e.g. 'T' for stopped). */
  private static void awaitState(Process p, char state) throws IOException, InterruptedException {
    Path stat = Path.of("/proc", Long.toString(p.pid()), "stat");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(EXIT_SECONDS);
    while (true) {
      String s = Files.readString(stat, StandardCharsets.UTF_8);
      if (s.charAt(s.lastIndexOf(')') + 2) == state) {
        return;
      }
      assertTrue(System.nanoTime() < deadline, "state " + state + " not reached: " + s);
      Thread.sleep(5);
    }
  }

  private static String describe(Process p) {
    String exit = p.isAlive() ? "alive" : "exit code " + p.exitValue();
    try {
      String output =
          p.isAlive() ? "" : new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      return exit + (output.isEmpty() ? "" : ", output: " + output.strip());
    } catch (IOException e) {
      return exit;
    }
  }

  /**
   * Empty to run {@code arch} natively on a host of that arch; otherwise qemu-user
   * (qemu-ARCH-static or qemu-ARCH on the PATH), and the test is skipped when neither is there.
   */
  private static List<String> launcher(Arch arch) {
    Arch host;
    try {
      host = Arch.fromOsArch(System.getProperty("os.arch"));
    } catch (IllegalArgumentException e) {
      host = null;
    }
    if (arch == host) {
      return List.of();
    }
    String qemu = arch == Arch.ARM64 ? "qemu-aarch64" : "qemu-x86_64";
    Path emulator = onPath(qemu + "-static");
    if (emulator == null) {
      emulator = onPath(qemu);
    }
    Assumptions.assumeTrue(
        emulator != null,
        "neither " + qemu + "-static nor " + qemu + " on the PATH (install qemu-user-static)");
    return List.of(emulator.toString());
  }

  private static Path onPath(String name) {
    String path = System.getenv("PATH");
    if (path == null) {
      return null;
    }
    for (String d : path.split(File.pathSeparator)) {
      if (!d.isEmpty()) {
        Path candidate = Path.of(d, name);
        if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
          return candidate;
        }
      }
    }
    return null;
  }
}
