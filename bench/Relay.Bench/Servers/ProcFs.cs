using System.Diagnostics;
using System.Globalization;

namespace Relay.Bench.Servers;

/// <summary>Server-side costs read from Linux's /proc: CPU seconds (utime + stime) and resident memory.</summary>
internal static class ProcFs
{
    private static readonly double ClockTicksPerSecond = ReadClockTicks();

    /// <summary>User + system CPU seconds the process has used so far, all its threads included (fields 14 and 15 of /proc/pid/stat).</summary>
    public static double CpuSeconds(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return double.NaN;
        }

        // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
        var rest = stat.AsSpan(stat.LastIndexOf(')') + 2);
        Span<Range> fields = stackalloc Range[16];
        var count = rest.Split(fields, ' ');
        if (count < 13)
        {
            return double.NaN;
        }

        // After ')': field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
        var utime = long.Parse(rest[fields[11]], CultureInfo.InvariantCulture);
        var stime = long.Parse(rest[fields[12]], CultureInfo.InvariantCulture);
        return (utime + stime) / ClockTicksPerSecond;
    }

    /// <summary>Resident set size in bytes (VmRSS of /proc/pid/status); 0 if the process is gone.</summary>
    public static long RssBytes(int pid) => StatusKiB(pid, "VmRSS:") * 1024;

    public static long StatusKiB(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    var value = line.AsSpan(field.Length).Trim();
                    var space = value.IndexOf(' ');
                    return long.Parse(space < 0 ? value : value[..space], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    public static int OpenFiles(int pid)
    {
        try
        {
            return Directory.GetFiles($"/proc/{pid}/fd").Length;
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>This process's own CPU seconds: what the load generator spent.</summary>
    public static double SelfCpuSeconds() => CpuSeconds(Environment.ProcessId);

    /// <summary>The hard and soft limits on open files of this process (RLIMIT_NOFILE).</summary>
    public static (long Soft, long Hard) OpenFileLimits()
    {
        foreach (var line in File.ReadLines("/proc/self/limits"))
        {
            if (line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                var parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return (ParseLimit(parts[0]), ParseLimit(parts[1]));
            }
        }

        return (long.MaxValue, long.MaxValue);

        static long ParseLimit(string s) => s == "unlimited" ? long.MaxValue : long.Parse(s, CultureInfo.InvariantCulture);
    }

    private static double ReadClockTicks()
    {
        try
        {
            using var getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true })!;
            var text = getconf.StandardOutput.ReadToEnd().Trim();
            getconf.WaitForExit();
            return double.Parse(text, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or FormatException or InvalidOperationException)
        {
            return 100;
        }
    }
}
