package main

import "github.com/spf13/cobra"

// commandExamples is the example of each command, by command path, shown by --help and
// in docs/CLI.md. TestCLIReference fails when a command has none. Shell variables stand
// for values earlier commands printed ($CHAIN a chain id, $OWNER an owner, $APP an
// application id, ...).
var commandExamples = map[string]string{
	"mica benchmark":                 "  mica benchmark --chains 16 --duration 10s\n  mica benchmark --chains 4 --transactions-per-block 10 --json",
	"mica change-ownership":          "  mica change-ownership --chain $CHAIN --super-owners $OWNER\n  mica change-ownership --chain $CHAIN --owners $OWNER1,$OWNER2 --multi-leader-rounds 3",
	"mica close-chain":               "  mica close-chain $CHAIN",
	"mica create-application":        "  mica create-application $MODULE --json-argument '0'",
	"mica demo":                      "  mica demo --transfers 100",
	"mica execute-operation":         "  mica execute-operation --application-id $APP --json-operation '{\"increment\": 5}'",
	"mica faucet":                    "  mica faucet --port 8079 --amount 100",
	"mica mcp":                       "  mica mcp --wallet ~/.config/mica/wallet   # an MCP server on stdin/stdout, for a desktop agent",
	"mica wallet agent-policy clear": "  mica wallet agent-policy clear",
	"mica wallet agent-policy show":  "  mica wallet agent-policy show --json",
	"mica keygen":                    "  mica keygen\n  mica keygen --scheme secp256k1",
	"mica local-balance":             "  mica local-balance\n  mica local-balance $OWNER@$CHAIN",
	"mica net down":                  "  mica net down",
	"mica net status":                "  mica net status\n  eval \"$(mica net status --env)\"",
	"mica net up":                    "  mica net up\n  mica net up --validators 4 --shards 2 --with-faucet --path /tmp/mica-net",
	"mica open-chain":                "  mica open-chain --initial-balance 10\n  mica open-chain --chain $PARENT --owner $OWNER --initial-balance 5 --json",
	"mica open-multi-owner-chain":    "  mica open-multi-owner-chain --owners $OWNER1,$OWNER2 --initial-balance 10",
	"mica process-inbox":             "  mica process-inbox\n  mica process-inbox $CHAIN --json",
	"mica process-streams":           "  mica process-streams $CHAIN",
	"mica project build":             "  mica project build ./hello",
	"mica project new":               "  mica project new hello\n  mica project build hello",
	"mica project env":               "  eval \"$(mica project env)\"\n  go test ./...",
	"mica proxy run":                 "  mica proxy run --config mica-net/validator-0/config.json",
	"mica publish-and-create":        "  mica publish-and-create hello/build/contract.wasm hello/build/service.wasm --json-argument '0'",
	"mica publish-data-blob":         "  mica publish-data-blob picture.png\n  mica publish-data-blob --url https://store.example/blob --hash $HASH",
	"mica publish-module":            "  mica publish-module hello/build/contract.wasm hello/build/service.wasm",
	"mica query-application":         "  mica query-application --application-id $APP '{ value }'\n  mica query-application --application-id $APP 'mutation { increment(value: 5) }'\n  mica query-application --application-id $APP '{ value }' --json | jq .data.value",
	"mica query-balance":             "  mica query-balance\n  mica query-balance $OWNER@$CHAIN --json",
	"mica read-data-blob":            "  mica read-data-blob $HASH --output picture.png",
	"mica show-block":                "  mica show-block $CHAIN 0\n  mica show-block $CHAIN 3 --json",
	"mica show-events":               "  mica show-events $CHAIN --application-id $APP --stream posts --from 0 --limit 10",
	"mica show-subscriptions":        "  mica show-subscriptions $CHAIN",
	"mica sync":                      "  mica sync\n  mica sync $CHAIN",
	"mica transfer":                  "  mica transfer 10 --to $CHAIN\n  mica transfer 2.5 --from $OWNER@$CHAIN --to $OWNER2@$CHAIN2",
	"mica validator generate":        "  mica validator generate --validators 4 --path mica-net",
	"mica validator run":             "  mica validator run --config mica-net/validator-0/config.json\n  mica validator run --config validator-0/config.json --shard 1",
	"mica wallet follow-chain":       "  mica wallet follow-chain $CHAIN",
	"mica wallet import-chain":       "  mica wallet import-chain $CHAIN --key mica-net/chain-1.key",
	"mica wallet init":               "  mica wallet init --faucet http://127.0.0.1:8079\n  mica wallet init --genesis mica-net/genesis.json",
	"mica wallet request-chain":      "  mica wallet request-chain --faucet http://127.0.0.1:8079",
	"mica wallet set-default":        "  mica wallet set-default $CHAIN",
	"mica wallet show":               "  mica wallet show --json",
	"mica watch":                     "  mica watch $CHAIN",
}

// addExamples sets each command's Example from commandExamples unless it has its own.
func addExamples(root *cobra.Command) {
	for _, c := range leafCommands(root) {
		if ex, ok := commandExamples[c.CommandPath()]; ok && c.Example == "" {
			c.Example = ex
		}
	}
}
