mod cli;
mod corpus;
mod props;
mod rules;
