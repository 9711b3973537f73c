namespace Relay.Tests.Infrastructure;

/// <summary>
/// For state the relay changes after a socket event the test cannot await directly (a server-side
/// counter returning to zero after a client vanished): re-checks on every sweep of the given interval
/// until the condition holds, failing at the test timeout. It polls server state; it never sleeps in
/// place of awaiting a message the client could receive.
/// </summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string because, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        while (!condition())
        {
            if (deadline.IsCancellationRequested)
            {
                Assert.Fail($"Timed out waiting until {because}.");
            }

            await tick.WaitForNextTickAsync(CancellationToken.None);
        }
    }

    /// <summary>The same for state read asynchronously (a metric scraped from another process, a Redis key).</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, string because, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TestTimeouts.Default);
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        while (!await condition())
        {
            if (deadline.IsCancellationRequested)
            {
                Assert.Fail($"Timed out waiting until {because}.");
            }

            await tick.WaitForNextTickAsync(CancellationToken.None);
        }
    }
}
