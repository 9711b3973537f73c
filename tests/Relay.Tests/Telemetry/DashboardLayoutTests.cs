using System.Text.Json;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Telemetry;

/// <summary>
/// The Grafana dashboard's layout: Grafana keys panel state (links, edits, repeated panels) by panel id, so two
/// panels with one id break each other, and panels whose grid positions overlap are drawn over one another.
/// </summary>
public sealed class DashboardLayoutTests
{
    private static readonly List<JsonElement> Panels = Load();

    [Fact]
    public void EveryPanel_HasItsOwnId()
    {
        var ids = Panels.Select(panel => panel.GetProperty("id").GetInt32()).ToList();
        Assert.Empty(ids.GroupBy(id => id).Where(group => group.Count() > 1).Select(group => group.Key));
    }

    [Fact]
    public void NoTwoPanels_Overlap()
    {
        var boxes = Panels.Select(panel => (Title: panel.GetProperty("title").GetString(), Box: Box(panel))).ToList();
        var overlaps = new List<string>();
        for (var i = 0; i < boxes.Count; i++)
        {
            for (var j = i + 1; j < boxes.Count; j++)
            {
                var (a, b) = (boxes[i].Box, boxes[j].Box);
                if (a.X < b.X + b.W && b.X < a.X + a.W && a.Y < b.Y + b.H && b.Y < a.Y + a.H)
                {
                    overlaps.Add($"{boxes[i].Title} / {boxes[j].Title}");
                }
            }
        }

        Assert.Empty(overlaps);
    }

    private static (int X, int Y, int W, int H) Box(JsonElement panel)
    {
        var grid = panel.GetProperty("gridPos");
        return (grid.GetProperty("x").GetInt32(), grid.GetProperty("y").GetInt32(), grid.GetProperty("w").GetInt32(), grid.GetProperty("h").GetInt32());
    }

    private static List<JsonElement> Load()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "grafana", "dashboards", "relay.json")));
        var panels = new List<JsonElement>();
        Collect(json.RootElement.GetProperty("panels"), panels);
        return panels;

        static void Collect(JsonElement array, List<JsonElement> into)
        {
            foreach (var panel in array.EnumerateArray())
            {
                into.Add(panel.Clone());
                if (panel.TryGetProperty("panels", out var nested))
                {
                    Collect(nested, into);
                }
            }
        }
    }
}
