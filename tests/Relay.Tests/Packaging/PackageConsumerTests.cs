using System.Net.WebSockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Relay.Tests.Infrastructure;
using Relay.Tests.Telemetry;

namespace Relay.Tests.Packaging;

/// <summary>
/// The README's promise to a third party: pack <c>Relay.Middleware</c>, reference only that package from a
/// folder feed in a brand-new YARP gateway whose <c>Program.cs</c> and <c>appsettings.json</c> are the
/// README's own snippets, and the relay works there: introductions, a pairing, and live counts through
/// the public <c>IRelayStatus</c>.
/// </summary>
[Trait("Category", "Package")]
[Collection(NonParallelCollection.Name)]
public sealed partial class PackageConsumerTests
{
    private static readonly TimeSpan SdkTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task NewGateway_ReferencingOnlyThePackage_AsTheReadmeSays_ServesTheRelay()
    {
        var root = Directory.CreateTempSubdirectory("relay-consumer-").FullName;
        try
        {
            // A version of its own each run, so no earlier package in the NuGet cache stands in for this one.
            var version = $"0.0.0-consumer.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
            var feed = Path.Combine(root, "feed");
            var app = Path.Combine(root, "app");
            await DotnetProcess.RunAsync(RepositoryPaths.Root, SdkTimeout,
                "pack", Path.Combine("src", "Relay.Middleware"), "-c", "Release", "-o", feed, $"-p:Version={version}");
            Assert.Single(Directory.GetFiles(feed, $"Relay.Middleware.{version}.nupkg"));

            var (program, settings) = ReadmeSnippets();
            Directory.CreateDirectory(app);
            await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), program);
            await File.WriteAllTextAsync(Path.Combine(app, "appsettings.json"), settings);
            await File.WriteAllTextAsync(Path.Combine(app, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk.Web">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Relay.Middleware" Version="{version}" />
                  </ItemGroup>
                </Project>
                """);
            await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="relay-under-test" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            await DotnetProcess.RunAsync(app, SdkTimeout, "build", "-c", "Release", "-o", Path.Combine(app, "out"));

            using var gateway = DotnetProcess.Start(app, Path.Combine(app, "out", "Consumer.dll"), "--urls", "http://127.0.0.1:0");
            var baseUri = await gateway.ListeningAsync();
            var ws = new UriBuilder(baseUri) { Scheme = "ws" }.Uri;

            using var alice = await ConnectAsync(ws, "/introduction/alice");
            using var bob = await ConnectAsync(ws, "/introduction/bob");
            await alice.SendBinaryAsync(MsgPack.Join("doc"));
            await bob.SendBinaryAsync(MsgPack.Join("doc"));
            var (type, peerId, documentIds) = MsgPack.DecodeIntroduction((await alice.ReceiveMessageAsync()).Payload);
            Assert.Equal(("Introduction", "bob"), (type, peerId));
            Assert.Equal(["doc"], documentIds);

            using var a = await ConnectAsync(ws, "/connection/alice/bob/doc");
            using var b = await ConnectAsync(ws, "/connection/bob/alice/doc");
            await a.SendTextAsync("through the package");
            Assert.Equal("through the package", (await b.ReceiveMessageAsync()).Text);

            using var http = new HttpClient { BaseAddress = baseUri };
            using var status = JsonDocument.Parse(await http.GetStringAsync("/relay-status"));
            Assert.Equal(2, status.RootElement.GetProperty("peers").GetInt32());
            Assert.Equal(1, status.RootElement.GetProperty("documents").GetInt32());
            Assert.Equal(1, status.RootElement.GetProperty("activePairings").GetInt32());

            await WebSocketTestExtensions.ClosePairAsync(a, b);
            await alice.CloseQuietlyAsync();
            await bob.CloseQuietlyAsync();
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The first C# and JSON blocks of the README's "Using the relay in your own gateway".</summary>
    private static (string Program, string Settings) ReadmeSnippets()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "README.md"));
        var start = readme.IndexOf("## Using the relay in your own gateway", StringComparison.Ordinal);
        Assert.True(start >= 0, "The README has no \"Using the relay in your own gateway\" section.");
        var section = readme[start..];
        return (Block(section, "csharp"), Block(section, "json"));
    }

    private static string Block(string text, string language)
    {
        var match = Regex.Match(text, $"```{language}\\n(?<code>.*?)```", RegexOptions.Singleline);
        Assert.True(match.Success, $"No {language} block in the README section.");
        return match.Groups["code"].Value;
    }

    private static async Task<ClientWebSocket> ConnectAsync(Uri baseUri, string path)
    {
        var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        await socket.ConnectAsync(new Uri(baseUri, path), timeout.Token);
        return socket;
    }
}
