package nodeservice

import "github.com/micachain/mica/internal/nodeservice/gql"

// Short names for the generated models and resolver interfaces.
type (
	Application             = gql.Application
	Blob                    = gql.Blob
	Block                   = gql.Block
	BlockResult             = gql.BlockResult
	CertificateView         = gql.CertificateView
	Chain                   = gql.Chain
	CreateApplicationResult = gql.CreateApplicationResult
	EventView               = gql.EventView
	InboxBundle             = gql.InboxBundle
	InboxSummary            = gql.InboxSummary
	IncomingBundleView      = gql.IncomingBundleView
	MessageView             = gql.MessageView
	Notification            = gql.Notification
	OpenChainResult         = gql.OpenChainResult
	OperationView           = gql.OperationView
	OutboxSummary           = gql.OutboxSummary
	OwnerBalance            = gql.OwnerBalance
	OwnerWeight             = gql.OwnerWeight
	Ownership               = gql.Ownership
	PublishDataBlobResult   = gql.PublishDataBlobResult
	PublishModuleResult     = gql.PublishModuleResult
	Wallet                  = gql.Wallet
	WalletChain             = gql.WalletChain
	QueryResolver           = gql.QueryResolver
	MutationResolver        = gql.MutationResolver
	SubscriptionResolver    = gql.SubscriptionResolver
	ChainResolver           = gql.ChainResolver
	JSON                    = gql.JSON
)
