namespace Relay.Tests.Infrastructure;

internal static class RepositoryPaths
{
    /// <summary>The repository root: the nearest folder above the test binaries that holds Relay.sln.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Relay.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"Relay.sln not found above {AppContext.BaseDirectory}.");
    }
}
