mod cli;
mod corpus;
mod props;
