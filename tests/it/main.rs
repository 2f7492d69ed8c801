mod cli;
mod corpus;
mod generate;
mod props;
