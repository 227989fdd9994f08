package dev.warmstart.pause;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A tiny static "pause" program for Linux, assembled here as raw ELF bytes.
 *
 * <p>Cached images run as containers whose command is {@code /warmstart/pause}; those images may
 * have no shell and no libc, so the program is a freestanding ELF64 executable (no interpreter, no
 * sections, one {@code PT_LOAD} segment) of a couple of hundred bytes. It:
 *
 * <ol>
 *   <li>blocks SIGHUP, SIGINT and SIGTERM with {@code rt_sigprocmask(SIG_BLOCK, &mask, NULL, 8)},
 *   <li>waits with {@code rt_sigtimedwait(&mask, NULL, NULL, 8)} (no timeout), looping while the
 *       call returns a negative value (e.g. {@code -EINTR}),
 *   <li>calls {@code exit_group(0)}.
 * </ol>
 *
 * <p>Because the signals are blocked they are queued rather than dropped, which also holds for PID
 * 1 in a container (where signals with the default disposition would be ignored).
 *
 * <p>File layout: ELF header (64 bytes) at 0, program header (56 bytes) at 64, code at 120, then
 * the 8-byte signal mask, 8-byte aligned. The whole file is mapped R+X at {@link #BASE_VADDR}.
 */
public final class PauseBinary {

  /** The CPU architectures the pause binary is assembled for. */
  public enum Arch {
    X86_64,
    ARM64;

    /**
     * Maps a JVM/Go/Kubernetes architecture name ({@code os.arch}, {@code kubernetes.io/arch}) to
     * an {@link Arch}: {@code amd64}/{@code x86_64} and {@code arm64}/{@code aarch64}.
     *
     * @throws IllegalArgumentException for any other name
     */
    public static Arch fromOsArch(String osArch) {
      String name = osArch == null ? "" : osArch.trim().toLowerCase(Locale.ROOT);
      switch (name) {
        case "amd64":
        case "x86_64":
          return X86_64;
        case "arm64":
        case "aarch64":
          return ARM64;
        default:
          throw new IllegalArgumentException(
              "unsupported architecture '"
                  + osArch
                  + "' for the pause binary: supported are amd64 (x86_64) and arm64 (aarch64)");
      }
    }
  }

  /** Virtual address the file is loaded at (file offset 0). */
  static final long BASE_VADDR = 0x400000L;

  static final int EHDR_SIZE = 64;
  static final int PHDR_SIZE = 56;

  /** File offset of the first instruction. */
  static final int CODE_OFFSET = EHDR_SIZE + PHDR_SIZE;

  // ELF constants (see elf(5)).
  private static final byte ELFCLASS64 = 2;
  private static final byte ELFDATA2LSB = 1;
  private static final byte EV_CURRENT = 1;
  private static final byte ELFOSABI_SYSV = 0;
  private static final short ET_EXEC = 2;
  static final short EM_X86_64 = 62;
  static final short EM_AARCH64 = 183;
  private static final int PT_LOAD = 1;
  private static final int PF_X = 1;
  private static final int PF_R = 4;

  // Signals (the same numbers on x86-64 and arm64).
  static final int SIGHUP = 1;
  static final int SIGINT = 2;
  static final int SIGTERM = 15;

  /** The kernel sigset_t: bit (signo - 1) per signal, 8 bytes (the sigsetsize argument). */
  static final long SIGNAL_MASK =
      (1L << (SIGHUP - 1)) | (1L << (SIGINT - 1)) | (1L << (SIGTERM - 1));

  static final int SIGSET_SIZE = 8;
  private static final int SIG_BLOCK = 0;

  private static final String MASK = "mask";
  private static final String WAIT = "wait";

  private PauseBinary() {}

  /** The complete ELF executable for {@code arch}. */
  public static byte[] elf(Arch arch) {
    Asm code = new Asm(BASE_VADDR + CODE_OFFSET);
    short machine;
    long align;
    switch (arch) {
      case X86_64:
        x86_64(code);
        machine = EM_X86_64;
        align = 0x1000;
        break;
      case ARM64:
        arm64(code);
        machine = EM_AARCH64;
        align = 0x10000;
        break;
      default:
        throw new IllegalArgumentException("unsupported architecture: " + arch);
    }
    code.align(8);
    code.label(MASK);
    code.u64(SIGNAL_MASK);
    byte[] body = code.finish();

    int fileSize = CODE_OFFSET + body.length;
    long entry = BASE_VADDR + CODE_OFFSET;
    ByteBuffer elf = ByteBuffer.allocate(fileSize).order(ByteOrder.LITTLE_ENDIAN);

    // Elf64_Ehdr
    elf.put(new byte[] {0x7f, 'E', 'L', 'F'}); // e_ident[EI_MAG0..3]
    elf.put(ELFCLASS64); // e_ident[EI_CLASS]
    elf.put(ELFDATA2LSB); // e_ident[EI_DATA]
    elf.put(EV_CURRENT); // e_ident[EI_VERSION]
    elf.put(ELFOSABI_SYSV); // e_ident[EI_OSABI]
    elf.put(new byte[8]); // e_ident[EI_ABIVERSION], padding
    elf.putShort(ET_EXEC); // e_type
    elf.putShort(machine); // e_machine
    elf.putInt(EV_CURRENT); // e_version
    elf.putLong(entry); // e_entry
    elf.putLong(EHDR_SIZE); // e_phoff
    elf.putLong(0); // e_shoff: no section headers
    elf.putInt(0); // e_flags
    elf.putShort((short) EHDR_SIZE); // e_ehsize
    elf.putShort((short) PHDR_SIZE); // e_phentsize
    elf.putShort((short) 1); // e_phnum
    elf.putShort((short) 64); // e_shentsize
    elf.putShort((short) 0); // e_shnum
    elf.putShort((short) 0); // e_shstrndx: SHN_UNDEF

    // Elf64_Phdr: the whole file, read + execute
    elf.putInt(PT_LOAD); // p_type
    elf.putInt(PF_R | PF_X); // p_flags
    elf.putLong(0); // p_offset
    elf.putLong(BASE_VADDR); // p_vaddr
    elf.putLong(BASE_VADDR); // p_paddr
    elf.putLong(fileSize); // p_filesz
    elf.putLong(fileSize); // p_memsz
    elf.putLong(align); // p_align

    elf.put(body);
    if (elf.hasRemaining()) {
      throw new IllegalStateException("ELF layout mismatch");
    }
    return elf.array();
  }

  /** x86-64: number in eax, arguments in rdi, rsi, rdx, r10; syscall clobbers rax, rcx, r11. */
  private static void x86_64(Asm a) {
    final int rtSigprocmask = 14;
    final int rtSigtimedwait = 128;
    final int exitGroup = 231;

    a.bytes(0xb8, rtSigprocmask, 0, 0, 0); // mov    eax, 14          ; rt_sigprocmask
    a.bytes(0x31, 0xff); // xor    edi, edi         ; how = SIG_BLOCK (0)
    a.ripRel32(MASK, 0x48, 0x8d, 0x35); // lea    rsi, [rip+mask]  ; set
    a.bytes(0x31, 0xd2); // xor    edx, edx         ; oldset = NULL
    a.bytes(0x41, 0xba, SIGSET_SIZE, 0, 0, 0); // mov    r10d, 8          ; sigsetsize
    a.bytes(0x0f, 0x05); // syscall
    a.label(WAIT); // wait:
    a.bytes(0xb8, rtSigtimedwait, 0, 0, 0); // mov    eax, 128         ; rt_sigtimedwait
    a.ripRel32(MASK, 0x48, 0x8d, 0x3d); // lea    rdi, [rip+mask]  ; set
    a.bytes(0x31, 0xf6); // xor    esi, esi         ; info = NULL
    a.bytes(0x31, 0xd2); // xor    edx, edx         ; timeout = NULL (wait forever)
    a.bytes(0x41, 0xba, SIGSET_SIZE, 0, 0, 0); // mov    r10d, 8          ; sigsetsize
    a.bytes(0x0f, 0x05); // syscall
    a.bytes(0x48, 0x85, 0xc0); // test   rax, rax
    a.rel8(WAIT, 0x78); // js     wait             ; -EINTR etc.: wait again
    a.bytes(0xb8, exitGroup, 0, 0, 0); // mov    eax, 231         ; exit_group
    a.bytes(0x31, 0xff); // xor    edi, edi         ; status = 0
    a.bytes(0x0f, 0x05); // syscall
  }

  /** arm64: number in x8, arguments in x0..x3, {@code svc #0}; the result comes back in x0. */
  private static void arm64(Asm a) {
    final int rtSigprocmask = 135;
    final int rtSigtimedwait = 137;
    final int exitGroup = 94;

    a.u32(movz(0, SIG_BLOCK)); // mov    x0, #0           ; how = SIG_BLOCK
    a.adr(1, MASK); // adr    x1, mask         ; set
    a.u32(movz(2, 0)); // mov    x2, #0           ; oldset = NULL
    a.u32(movz(3, SIGSET_SIZE)); // mov    x3, #8           ; sigsetsize
    a.u32(movz(8, rtSigprocmask)); // mov    x8, #135         ; rt_sigprocmask
    a.u32(SVC_0); // svc    #0
    a.label(WAIT); // wait:
    a.adr(0, MASK); // adr    x0, mask         ; set
    a.u32(movz(1, 0)); // mov    x1, #0           ; info = NULL
    a.u32(movz(2, 0)); // mov    x2, #0           ; timeout = NULL (wait forever)
    a.u32(movz(3, SIGSET_SIZE)); // mov    x3, #8           ; sigsetsize
    a.u32(movz(8, rtSigtimedwait)); // mov    x8, #137         ; rt_sigtimedwait
    a.u32(SVC_0); // svc    #0
    a.u32(CMP_X0_0); // cmp    x0, #0
    a.bCond(COND_MI, WAIT); // b.mi   wait             ; -EINTR etc.: wait again
    a.u32(movz(0, 0)); // mov    x0, #0           ; status = 0
    a.u32(movz(8, exitGroup)); // mov    x8, #94          ; exit_group
    a.u32(SVC_0); // svc    #0
  }

  /** {@code svc #0}. */
  private static final int SVC_0 = 0xd4000001;

  /** {@code cmp x0, #0} (= {@code subs xzr, x0, #0}). */
  private static final int CMP_X0_0 = 0xf100001f;

  /** Condition code "minus" (N set) for {@code b.cond}. */
  private static final int COND_MI = 0x4;

  /** {@code movz xD, #imm16} (64-bit, no shift): sf=1 opc=10 100101 hw=00 imm16 Rd. */
  private static int movz(int rd, int imm16) {
    if (imm16 < 0 || imm16 > 0xffff || rd < 0 || rd > 30) {
      throw new IllegalArgumentException("movz x" + rd + ", #" + imm16);
    }
    return 0xd2800000 | (imm16 << 5) | rd;
  }

  /**
   * Writes the temporary file next to {@code target}, makes it r-xr-xr-x (0555) and renames it onto
   * {@code target}. The rename is atomic and replaces a previous copy (even a read-only one, or one
   * that is being executed), so a restarted init container can run this again.
   */
  public static void install(Path target, Arch arch) throws IOException {
    byte[] bytes = elf(arch);
    Path absolute = target.toAbsolutePath();
    Path dir = absolute.getParent();
    Files.createDirectories(dir);
    Path tmp = Files.createTempFile(dir, "." + absolute.getFileName() + "-", ".tmp");
    try {
      try (FileChannel ch =
          FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        ch.force(true);
      }
      Set<PosixFilePermission> mode = PosixFilePermissions.fromString("r-xr-xr-x");
      Files.setPosixFilePermissions(tmp, mode);
      Files.move(
          tmp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /**
   * A minimal assembler: little-endian bytes plus PC-relative references to labels, resolved in
   * {@link #finish()}. Addresses are virtual addresses; {@code origin} is where byte 0 is loaded.
   */
  private static final class Asm {
    private enum Kind {
      X86_REL32,
      X86_REL8,
      A64_ADR,
      A64_BCOND
    }

    /**
     * A reference to {@code label} in the instruction at {@code insn}, whose field is at {@code
     * at}.
     */
    private record Fixup(Kind kind, int insn, int at, int end, String label) {}

    private final long origin;
    private final ByteBuffer buf = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
    private final Map<String, Integer> labels = new HashMap<>();
    private final List<Fixup> fixups = new ArrayList<>();

    Asm(long origin) {
      this.origin = origin;
    }

    void label(String name) {
      if (labels.putIfAbsent(name, buf.position()) != null) {
        throw new IllegalStateException("duplicate label " + name);
      }
    }

    void bytes(int... bytes) {
      for (int b : bytes) {
        if (b < 0 || b > 0xff) {
          throw new IllegalArgumentException("not a byte: " + b);
        }
        buf.put((byte) b);
      }
    }

    void u32(int word) {
      buf.putInt(word);
    }

    void u64(long value) {
      buf.putLong(value);
    }

    /** Zero-fills to a multiple of {@code n} bytes of the virtual address. */
    void align(int n) {
      while ((origin + buf.position()) % n != 0) {
        buf.put((byte) 0);
      }
    }

    /** x86-64 instruction {@code opcode..., disp32}, disp32 = label - end of instruction. */
    void ripRel32(String label, int... opcode) {
      int insn = buf.position();
      bytes(opcode);
      int at = buf.position();
      buf.putInt(0);
      fixups.add(new Fixup(Kind.X86_REL32, insn, at, buf.position(), label));
    }

    /** x86-64 short jump {@code opcode, rel8}, rel8 = label - end of instruction. */
    void rel8(String label, int opcode) {
      int insn = buf.position();
      bytes(opcode);
      int at = buf.position();
      buf.put((byte) 0);
      fixups.add(new Fixup(Kind.X86_REL8, insn, at, buf.position(), label));
    }

    /**
     * arm64 {@code adr xD, label}: 0 immlo:2 10000 immhi:19 Rd, imm21 = label - this instruction.
     */
    void adr(int rd, String label) {
      int insn = buf.position();
      buf.putInt(0x10000000 | rd);
      fixups.add(new Fixup(Kind.A64_ADR, insn, insn, buf.position(), label));
    }

    /**
     * arm64 {@code b.cond label}: 01010100 imm19 0 cond, imm19 = (label - this instruction) / 4.
     */
    void bCond(int cond, String label) {
      int insn = buf.position();
      buf.putInt(0x54000000 | cond);
      fixups.add(new Fixup(Kind.A64_BCOND, insn, insn, buf.position(), label));
    }

    byte[] finish() {
      for (Fixup f : fixups) {
        Integer target = labels.get(f.label());
        if (target == null) {
          throw new IllegalStateException("undefined label " + f.label());
        }
        switch (f.kind()) {
          case X86_REL32 -> buf.putInt(f.at(), target - f.end());
          case X86_REL8 -> {
            int rel = target - f.end();
            check(rel, -128, 127, f);
            buf.put(f.at(), (byte) rel);
          }
          case A64_ADR -> {
            int rel = target - f.insn();
            check(rel, -(1 << 20), (1 << 20) - 1, f);
            int immlo = rel & 0x3;
            int immhi = (rel >> 2) & 0x7ffff;
            buf.putInt(f.at(), buf.getInt(f.at()) | (immlo << 29) | (immhi << 5));
          }
          case A64_BCOND -> {
            int rel = target - f.insn();
            if (rel % 4 != 0) {
              throw new IllegalStateException("unaligned branch to " + f.label());
            }
            check(rel / 4, -(1 << 18), (1 << 18) - 1, f);
            buf.putInt(f.at(), buf.getInt(f.at()) | (((rel / 4) & 0x7ffff) << 5));
          }
          default -> throw new IllegalStateException(f.kind().toString());
        }
      }
      byte[] out = new byte[buf.position()];
      buf.get(0, out);
      return out;
    }

    private static void check(int value, int min, int max, Fixup f) {
      if (value < min || value > max) {
        throw new IllegalStateException(f.label() + " out of range for " + f.kind());
      }
    }
  }
}
