package dev.warmstart.pause;

import dev.warmstart.kube.HelperContract;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/**
 * {@code install-pause TARGET}: writes the static pause binary (see {@link PauseBinary}) to {@code
 * TARGET}, typically {@code /warmstart/pause} in an emptyDir shared with the cache containers. Run
 * by the init container of the image-cache pods; safe to run again.
 */
@Command(
    name = HelperContract.COMMAND_INSTALL_PAUSE,
    mixinStandardHelpOptions = true,
    description =
        "Write the static pause binary (blocks until SIGTERM, SIGINT or SIGHUP, then exits 0)"
            + " to TARGET with mode 0555, replacing any previous copy atomically.")
public final class InstallPauseCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Parameters(
      index = "0",
      paramLabel = "TARGET",
      description = "Where to write the binary, e.g. /warmstart/pause.")
  Path target;

  @Option(
      names = "--arch",
      paramLabel = "ARCH",
      defaultValue = "${sys:os.arch}",
      converter = ArchConverter.class,
      description =
          "CPU architecture: amd64 (x86_64) or arm64 (aarch64). Default: this JVM's os.arch (${DEFAULT-VALUE}).")
  PauseBinary.Arch arch;

  @Override
  public Integer call() throws Exception {
    PauseBinary.install(target, arch);
    spec.commandLine()
        .getOut()
        .printf(
            "wrote %d-byte %s pause binary to %s%n",
            PauseBinary.elf(arch).length,
            arch == PauseBinary.Arch.X86_64 ? "x86-64" : "arm64",
            target.toAbsolutePath());
    spec.commandLine().getOut().flush();
    return 0;
  }

  /** Accepts the same names as {@link PauseBinary.Arch#fromOsArch(String)}. */
  static final class ArchConverter implements ITypeConverter<PauseBinary.Arch> {
    @Override
    public PauseBinary.Arch convert(String value) {
      try {
        return PauseBinary.Arch.fromOsArch(value);
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException(e.getMessage());
      }
    }
  }
}
